"""The real-shapes checkpoint writer: shards within budget, an index that names every tensor,
norm scales 1, biases 0, distinct random weights at the initializer's std (small shapes here;
the full-width build runs in test_real_shapes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lychee_engine import reference_checkpoint as rc
from lychee_engine.reference_configs import qwen25_vl_7b_config
from lychee_engine.tiny import SPECIAL_TOKENS

SHAPES = {
    "model.embed_tokens.weight": (512, 64),
    "model.layers.0.input_layernorm.weight": (64,),
    "model.layers.0.self_attn.q_proj.weight": (64, 64),
    "model.layers.0.self_attn.q_proj.bias": (64,),
    "lm_head.weight": (512, 64),
}


def test_weights_are_sharded_indexed_and_initialised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rc, "SHARD_BYTES", 512 * 64 * 2)  # one embedding matrix per shard
    total = rc._write_weights(tmp_path, SHAPES, torch.bfloat16, seed=0)
    assert total == sum(torch.Size(shape).numel() for shape in SHAPES.values())
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(SHAPES)
    assert index["metadata"]["total_size"] == 2 * total
    files = sorted(tmp_path.glob("*.safetensors"))
    assert len(files) == 3 and {f.name for f in files} == set(index["weight_map"].values())
    tensors = {k: v for f in files for k, v in load_file(str(f)).items()}
    assert {k: tuple(v.shape) for k, v in tensors.items()} == SHAPES
    assert all(t.dtype == torch.bfloat16 for t in tensors.values())
    assert torch.all(tensors["model.layers.0.input_layernorm.weight"] == 1)
    assert torch.all(tensors["model.layers.0.self_attn.q_proj.bias"] == 0)
    embed, head = tensors["model.embed_tokens.weight"], tensors["lm_head.weight"]
    assert float(embed.float().std()) == pytest.approx(rc.INIT_STD, rel=0.1)
    assert not torch.equal(embed, head)  # each tensor its own slice of the pool
    assert not torch.equal(embed[0], embed[1])  # rows differ


def test_reduced_config_keeps_real_widths() -> None:
    ids = {token: number for number, token in enumerate(SPECIAL_TOKENS)}
    config = qwen25_vl_7b_config(ids, text_layers=2, vision_depth=4, fullatt_blocks=(1, 3))
    text, vision = config["text_config"], config["vision_config"]
    assert (text["num_hidden_layers"], text["max_window_layers"]) == (2, 2)
    assert (text["hidden_size"], text["vocab_size"], vision["hidden_size"]) == (3584, 152064, 1280)
    assert (vision["depth"], vision["fullatt_block_indexes"]) == (4, [1, 3])
    assert qwen25_vl_7b_config(ids)["vision_config"]["fullatt_block_indexes"] == [7, 15, 23, 31]
    with pytest.raises(ValueError, match="outside a depth of 4"):
        qwen25_vl_7b_config(ids, vision_depth=4, fullatt_blocks=(1, 4))
