"""A random-weight checkpoint with the full Qwen2.5-VL-7B shapes and only a few layers.

`python -m lychee_engine.reference_checkpoint OUT_DIR` writes the real-shapes checkpoint the
CI check loads on CPU (DESIGN.md §7): the project's 7B configuration (`reference_configs`)
with 2 text layers and 4 vision blocks (1 and 3 full attention, 0 and 2 windowed), every
width real (hidden 3584, 28/4 heads, head_dim 128, mrope [16, 24, 24], vocabulary 152,064,
vision 1280 wide with window 112): 1.68 B parameters, 3.4 GB in bf16, plus the tiny
tokenizer and image-processor files, loadable by `load_scorer("lychee:OUT_DIR")`.

Memory: the model is instantiated on the meta device (shapes only) and each tensor is filled
and written shard by shard (1 GiB safetensors shards and their index), so building never
holds more than one shard; loading in fp32 then holds the 6.7 GB model once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lychee_engine.reference_configs import qwen25_vl_7b_config
from lychee_engine.tiny import write_processor_files

SHARD_BYTES = 1 << 30
INIT_STD = 0.02  # Qwen2.5-VL's initializer_range
# Random values are drawn once into a pool and each tensor is a wrapped slice of it at its
# own random offset: drawing 1.68 B normals per build costs ~25 s on a 2-core box, a pool of
# 16 M costs 0.3 s. Rows still differ (the pool length is no multiple of any row length).
POOL_SIZE = (1 << 24) + 7


def _random_tensor(
    shape: tuple[int, ...], pool: torch.Tensor, rng: torch.Generator
) -> torch.Tensor:
    numel = 1
    for dim in shape:
        numel *= dim
    start = int(torch.randint(0, pool.numel(), (1,), generator=rng))
    parts, left = [], numel
    while left:
        piece = pool[start : start + left]
        parts.append(piece)
        left -= piece.numel()
        start = 0
    return torch.cat(parts).reshape(shape)


def _tensor(
    name: str, shape: tuple[int, ...], pool: torch.Tensor, rng: torch.Generator
) -> torch.Tensor:
    """Norm scales 1, biases 0, every other weight random with std INIT_STD."""
    if name.endswith("bias"):
        return torch.zeros(shape, dtype=pool.dtype)
    if len(shape) == 1:
        return torch.ones(shape, dtype=pool.dtype)
    return _random_tensor(shape, pool, rng)


def _write_weights(
    out: Path, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype, seed: int
) -> int:
    """Fill and write the tensors shard by shard; return the parameter count."""
    from safetensors.torch import save_file

    rng = torch.Generator().manual_seed(seed)
    pool = torch.randn(POOL_SIZE, generator=rng).mul_(INIT_STD).to(dtype)
    size = pool.element_size()
    groups: list[list[str]] = [[]]
    shard_bytes = 0
    for name, shape in shapes.items():
        nbytes = size * int(torch.Size(shape).numel())
        if groups[-1] and shard_bytes + nbytes > SHARD_BYTES:
            groups.append([])
            shard_bytes = 0
        groups[-1].append(name)
        shard_bytes += nbytes
    weight_map: dict[str, str] = {}
    total = 0
    for number, names in enumerate(groups, start=1):
        file = f"model-{number:05d}-of-{len(groups):05d}.safetensors"
        shard = {name: _tensor(name, shapes[name], pool, rng) for name in names}
        save_file(shard, str(out / file), metadata={"format": "pt"})
        total += sum(t.numel() for t in shard.values())
        weight_map.update(dict.fromkeys(names, file))
        del shard  # one shard in memory at a time
    index = {"metadata": {"total_size": total * size}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return total


def write_reference_checkpoint(
    out_dir: str | Path,
    *,
    text_layers: int = 2,
    vision_depth: int = 4,
    fullatt_blocks: tuple[int, ...] = (1, 3),
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
) -> Path:
    """Write the reduced-depth, full-width checkpoint to `out_dir` and return its path."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    token_ids = write_processor_files(out, seed)
    values = qwen25_vl_7b_config(
        token_ids, text_layers=text_layers, vision_depth=vision_depth, fullatt_blocks=fullatt_blocks
    )
    values["text_config"].update(
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=token_ids["<|im_end|>"],
        pad_token_id=token_ids["<|endoftext|>"],
    )
    config = Qwen2_5_VLConfig(**values)
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    config.dtype = dtype
    config.save_pretrained(out)
    with torch.device("meta"):  # shapes and names only, no memory
        model = Qwen2_5_VLForConditionalGeneration(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    del model
    _write_weights(out, shapes, dtype, seed)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--text-layers", type=int, default=2)
    parser.add_argument("--vision-depth", type=int, default=4)
    parser.add_argument("--fullatt-blocks", default="1,3", help="comma-separated block indexes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = write_reference_checkpoint(
        args.out_dir,
        text_layers=args.text_layers,
        vision_depth=args.vision_depth,
        fullatt_blocks=tuple(int(b) for b in args.fullatt_blocks.split(",") if b),
        seed=args.seed,
    )
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"wrote {path} ({size / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
