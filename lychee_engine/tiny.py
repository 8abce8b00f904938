"""A tiny random-weight Qwen2.5-VL checkpoint for tests and CPU benchmarks.

`python -m lychee_engine.tiny OUT_DIR [--seed N]` writes a directory that loads through the
same code path as Lychee-rerank-mm (config, safetensors, a Qwen2 tokenizer, a chat template
and a Qwen2-VL image-processor config), under 1 MB, byte-identical for the same seed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from lychee_engine import prompt
from lychee_engine.options import DEFAULT_INSTRUCTION

# Qwen's pre-tokenizer split regex: Qwen2Tokenizer rebuilds its pre-tokenizer with it on load
# (transformers 5.x), so the vocabulary must be trained on the same splits.
QWEN_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2.5-VL's special tokens, in Qwen's order (ids follow the trained vocabulary).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
BPE_VOCAB_SIZE = 480
VOCAB_SIZE = 512  # embedding rows: trained vocabulary + special tokens, rounded up

# ChatML with Qwen2.5-VL's image placeholder; content may be a string or a list of parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_WORD_TEXT = (
    "yes no running shoes men women lightweight waterproof jacket coffee mug ceramic phone "
    "case iphone pro max samsung galaxy laptop bag leather wallet black white red blue green "
    "cotton shirt dress sneakers boots kitchen knife steel bottle water sport outdoor hiking "
    "camera lens wireless headphones charger cable usb fast battery size small medium large "
    "query document instruct judge whether meets requirements based provided answer only "
    "given web search retrieve relevant passages that the a of and for with in to is"
)
WORDS = _WORD_TEXT.split()  # also the vocabulary of benchmark documents


def _corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(400)]
    lines += ["yes", "no", 'Note that the answer can only be "yes" or "no".'] * 50
    # The prompt's fixed text compresses to few tokens, as with Qwen's real vocabulary.
    lines += [prompt.SYSTEM_PROMPT, prompt.INSTRUCT_PREFIX + DEFAULT_INSTRUCTION] * 100
    lines += [f"<Query>:{w} | {n}\n<Document>:" for n, w in enumerate(WORDS)]
    return lines


def build_tokenizer(seed: int) -> Tokenizer:
    """Train a byte-level BPE (`tokenizers.Tokenizer`) with Qwen's split regex."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def build_config(token_ids: dict[str, int]) -> dict:
    """Qwen2.5-VL config: hidden 64, 2 layers, vision depth 2, mrope over head_dim 16."""
    text = {
        "model_type": "qwen2_5_vl_text",
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        # mrope_section must sum to head_dim / 2 = 8
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
        "initializer_range": 0.2,  # wide init so random scores spread away from 0.5
        "bos_token_id": token_ids["<|endoftext|>"],
        "eos_token_id": token_ids["<|im_end|>"],
        "pad_token_id": token_ids["<|endoftext|>"],
    }
    vision = {
        "model_type": "qwen2_5_vl_vision",
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 64,  # must equal the text hidden size
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [1],
        "initializer_range": 0.2,
    }
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "text_config": text,
        "vision_config": vision,
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
        "tie_word_embeddings": False,
        "dtype": "float32",
    }


IMAGE_PROCESSOR_CONFIG = {
    "image_processor_type": "Qwen2VLImageProcessor",
    "do_resize": True,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "do_convert_rgb": True,
    "size": {"shortest_edge": 4 * 28 * 28, "longest_edge": 1280 * 28 * 28},
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
}


def _tokenizer_config() -> dict:
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": 32768,
        "split_special_tokens": False,
        "chat_template": CHAT_TEMPLATE,
    }


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_processor_files(out: Path, seed: int = 0) -> dict[str, int]:
    """Write the tokenizer and image-processor files into `out` (created if needed); return
    the special tokens' ids. Shared with `reference_checkpoint` (full-width shapes)."""
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(seed)
    found = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    token_ids = {t: i for t, i in found.items() if i is not None}
    if len(token_ids) != len(SPECIAL_TOKENS):
        raise RuntimeError(f"special tokens missing from the tokenizer: {found}")
    if tok.get_vocab_size() > VOCAB_SIZE:
        raise RuntimeError(f"tokenizer has {tok.get_vocab_size()} tokens > {VOCAB_SIZE}")
    tok.save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config())
    _write_json(out / "preprocessor_config.json", IMAGE_PROCESSOR_CONFIG)
    return token_ids


def write_tiny_checkpoint(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint to `out_dir` (created if needed) and return its path."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    token_ids = write_processor_files(out, seed)
    config = Qwen2_5_VLConfig(**build_config(token_ids))
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = write_tiny_checkpoint(args.out_dir, seed=args.seed)
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"wrote {path} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
