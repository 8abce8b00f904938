"""The tiny checkpoint: small, deterministic, Qwen-shaped, and loadable like the real model."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

from lychee_engine.lychee_backend import LycheeBackend
from lychee_engine.tiny import SPECIAL_TOKENS, write_tiny_checkpoint
from tests.unit.conftest import TINY_SEED


def test_under_one_megabyte(tiny_checkpoint: Path) -> None:
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert {"tokenizer_config.json", "preprocessor_config.json"} <= names
    assert sum(p.stat().st_size for p in tiny_checkpoint.iterdir()) < 1_000_000


def test_same_seed_same_bytes(tiny_checkpoint: Path, tmp_path: Path) -> None:
    again = write_tiny_checkpoint(tmp_path / "again", seed=TINY_SEED)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_checkpoint / name).read_bytes(), name


def test_architecture_matches_the_contract(tiny_checkpoint: Path) -> None:
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert (text["hidden_size"], text["num_hidden_layers"], vision["depth"]) == (64, 2, 2)
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2
    assert vision["out_hidden_size"] == text["hidden_size"]


def test_tokenizer_has_qwen_special_tokens(tiny_checkpoint: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert 400 <= len(tokenizer) <= config["text_config"]["vocab_size"]
    for token in SPECIAL_TOKENS:
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    for word in ("yes", "no"):
        assert len(tokenizer.encode(word, add_special_tokens=False)) == 1, word
    assert config["image_token_id"] == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config["vision_start_token_id"] == tokenizer.convert_tokens_to_ids("<|vision_start|>")


def test_loads_through_the_backend_loader(
    tiny_backend: LycheeBackend, tiny_checkpoint: Path
) -> None:
    assert isinstance(tiny_backend.model, Qwen2_5_VLForConditionalGeneration)
    assert tiny_backend.model_id == tiny_checkpoint.name
    assert not tiny_backend.model.training
