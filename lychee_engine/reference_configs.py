"""Architecture values of the full-size model, for benchmarks that build it with random
weights (no download): true speed and memory without the checkpoint."""

from __future__ import annotations

from typing import Any

QWEN25_VL_7B_FULLATT_BLOCKS = (7, 15, 23, 31)


def qwen25_vl_7b_config(
    token_ids: dict[str, int],
    *,
    text_layers: int = 28,
    vision_depth: int = 32,
    fullatt_blocks: tuple[int, ...] = QWEN25_VL_7B_FULLATT_BLOCKS,
) -> dict[str, Any]:
    """Qwen2.5-VL-7B-Instruct's architecture values; special ids follow the tiny tokenizer.

    Fewer `text_layers` / `vision_depth` (with their own `fullatt_blocks`) keep every width,
    head count, rope section and the vocabulary real: the shapes on CPU (reference_checkpoint).
    """
    if any(not 0 <= block < vision_depth for block in fullatt_blocks):
        raise ValueError(f"fullatt_blocks {fullatt_blocks} outside a depth of {vision_depth}")
    return {
        "model_type": "qwen2_5_vl",
        "text_config": {
            "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
            "num_hidden_layers": text_layers, "num_attention_heads": 28, "num_key_value_heads": 4,
            "max_position_embeddings": 128000, "rms_norm_eps": 1e-6, "hidden_act": "silu",
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6,
                                "mrope_section": [16, 24, 24]},
            "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": text_layers,
        },
        "vision_config": {
            "depth": vision_depth, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
            "in_channels": 3, "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "window_size": 112, "tokens_per_second": 2,
            "fullatt_block_indexes": list(fullatt_blocks), "hidden_act": "silu",
        },
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
        "tie_word_embeddings": False,
    }  # fmt: skip
