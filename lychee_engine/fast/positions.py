"""Qwen2.5-VL's multimodal rotary (mrope) positions of one unpadded pair, computed once.

Text tokens advance all three axes (temporal, height, width) together by one; an image's
tokens take `start + (t, row, column)` of its merged grid, and the text after the image
resumes at `start + max(rows, columns)`. This equals `Qwen2_5_VLModel.get_rope_index` for a
prompt whose images are separated by text (ours always are: vision start/end markers), and
lets a suffix continue exactly where a shared prefix's positions stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _image_positions(start: int, grid: Sequence[int], merge: int) -> torch.Tensor:
    t, h, w = int(grid[0]), int(grid[1]) // merge, int(grid[2]) // merge
    axes = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack(axes).reshape(3, -1) + start


def mrope_positions(
    ids: Sequence[int], grids: Sequence[Sequence[int]], image_token_id: int, merge: int
) -> torch.Tensor:
    """(3, len(ids)) int64 positions; `grids` holds each image's (t, h, w) patch grid in order."""
    tokens = torch.as_tensor(ids, dtype=torch.long)
    is_image = tokens == image_token_id
    out = torch.empty((3, len(ids)), dtype=torch.long)
    pos = index = 0
    images = iter(grids)
    while index < len(ids):
        if not is_image[index]:
            # the run of text up to the next image token (or the end)
            rest = torch.nonzero(is_image[index:])
            end = index + int(rest[0]) if len(rest) else len(ids)
            out[:, index:end] = torch.arange(pos, pos + end - index)
            pos += end - index
            index = end
            continue
        grid = next(images, None)
        if grid is None:
            raise ValueError("more image tokens than image grids")
        block = _image_positions(pos, grid, merge)
        end = index + block.shape[1]
        if end > len(ids) or not bool(is_image[index:end].all()):
            raise ValueError(f"image tokens at {index} do not match grid {tuple(grid)}")
        out[:, index:end] = block
        pos += max(int(grid[1]), int(grid[2])) // merge
        index = end
    if next(images, None) is not None:
        raise ValueError("more image grids than images in the token ids")
    return out
