"""The Qwen2.5-VL vision tower over many images without per-window Python loops.

Without flash-attn, transformers' vision attention splits the sequence at every window and
image boundary and runs one attention call per piece: 16 windows per 448 px image times 28
window layers is ~22k tiny kernel launches for 50 images. Here the pieces of equal length
(most windows, and images of equal size) are stacked into one batched attention call per
length, which is the same arithmetic per piece, so the output equals the stock tower's.
It calls sdpa itself, whatever the model's attention setting: with flash-attn the stock
tower's varlen kernels would be the alternative, an unverified path that runs only when
`FastOptions.flash_vision` is on (`paths.FastPaths`, `vision_encoder`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision
from transformers.vision_utils import (
    get_vision_cu_seqlens,
    get_vision_position_ids,
    get_vision_window_index,
)


@dataclass(frozen=True, slots=True)
class SegmentGroup:
    """Equal-length attention segments: `index[i]` are the token rows of segment i."""

    index: torch.Tensor | None  # (segments, length) rows; None: the whole sequence, in order
    segments: int
    length: int


def group_segments(cu_seqlens: list[int], device: torch.device) -> list[SegmentGroup]:
    """Non-empty segments between cumulative boundaries, grouped by length."""
    starts: dict[int, list[int]] = {}
    for begin, end in itertools.pairwise(cu_seqlens):
        if end > begin:
            starts.setdefault(end - begin, []).append(begin)
    if len(starts) == 1:
        ((length, begins),) = starts.items()
        if begins == list(range(0, len(begins) * length, length)):
            return [SegmentGroup(None, len(begins), length)]  # contiguous: a plain reshape
    groups = []
    for length, begins in starts.items():
        offsets = torch.arange(length)
        index = (torch.tensor(begins)[:, None] + offsets).to(device)
        groups.append(SegmentGroup(index, len(begins), length))
    return groups


def _patch_embed(embed: Any, pixels: torch.Tensor) -> torch.Tensor:
    """The stock Conv3d, whose kernel covers each whole patch row, as the matmul it is
    (cuDNN's 3-D convolution is far slower on the GPU for this shape)."""
    weight = embed.proj.weight
    return pixels @ weight.reshape(weight.shape[0], -1).T


def _attention(
    attn: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, groups: list[SegmentGroup]
) -> torch.Tensor:
    rows = x.shape[0]
    q, k, v = attn.qkv(x).reshape(rows, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
    out = torch.empty_like(q) if len(groups) > 1 or groups[0].index is not None else None
    for group in groups:
        shape = (group.segments, group.length, attn.num_heads, -1)
        if group.index is None:
            parts = [t.reshape(shape) for t in (q, k, v)]
        else:
            parts = [t[group.index] for t in (q, k, v)]
        # (segments, heads, length, head_dim): one call for every segment of this length
        qs, ks, vs = (t.transpose(1, 2) for t in parts)
        result = F.scaled_dot_product_attention(qs, ks, vs, scale=attn.scaling).transpose(1, 2)
        if out is None:
            out = result.reshape(rows, attn.num_heads, -1)
        else:
            out[group.index] = result
    assert out is not None
    return attn.proj(out.reshape(rows, -1))


def encode_images(visual: Any, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """Merged vision embeddings (image tokens, text hidden) of all images, in order.

    `visual` is the model's `Qwen2_5_VisionTransformerPretrainedModel`; `grid_thw` is
    (images, 3) on the CPU; `pixel_values` the concatenated patch rows.
    """
    device = pixel_values.device
    merge = visual.spatial_merge_size
    grid_thw = grid_thw.cpu()
    window_index, cu_window = get_vision_window_index(
        grid_thw, merge, visual.window_size, visual.patch_size
    )
    window_index = window_index.to(device)
    full = group_segments(get_vision_cu_seqlens(grid_thw).tolist(), device)
    windows = group_segments(cu_window.tolist(), device)

    hidden = _patch_embed(visual.patch_embed, pixel_values.type(visual.dtype))
    rows = hidden.shape[0]
    hidden = visual.permute_input_for_window_attn(hidden, window_index, rows)
    positions = get_vision_position_ids(grid_thw, merge).to(device)
    cos, sin = (
        visual.permute_input_for_window_attn(t, window_index, rows)
        for t in visual.rotary_pos_emb(hidden, positions)
    )
    for number, block in enumerate(visual.blocks):
        groups = full if number in visual.fullatt_block_indexes else windows
        hidden = hidden + _attention(block.attn, block.norm1(hidden), cos, sin, groups)
        hidden = hidden + block.mlp(block.norm2(hidden))
    merged = visual.merger(hidden)
    return merged[torch.argsort(window_index)]
