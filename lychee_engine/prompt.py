"""Lychee-rerank-mm prompt strings and the chat-formatted token sequence of one pair.

The strings follow the public Lychee evaluation code (DESIGN.md §7); `tests/unit/test_prompt.py`
pins them. Bump PROMPT_VERSION whenever a string or the layout changes: it is part of the
score-cache key, because the same model scores a different prompt differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROMPT_VERSION = "lychee-v1"

SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".'
)
INSTRUCT_PREFIX = "<Instruct>: "
QUERY_PREFIX = "<Query>:"
DOCUMENT_PREFIX = "\n<Document>:"
YES_TOKEN = "yes"
NO_TOKEN = "no"

IMAGE_PAD = "<|image_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """What one pair puts in the prompt; image token counts come from the image processor."""

    instruction: str
    query_text: str | None
    query_image_tokens: int | None  # None: no query image
    doc_text: str | None
    doc_image_tokens: int | None  # None: no document image


def messages(spec: PromptSpec) -> list[dict[str, Any]]:
    """The pair as chat messages (Qwen2.5-VL content parts), for templates and debugging."""
    user: list[dict[str, str]] = [
        {"type": "text", "text": INSTRUCT_PREFIX + spec.instruction},
        {"type": "text", "text": QUERY_PREFIX},
    ]
    if spec.query_image_tokens is not None:
        user.append({"type": "image"})
    if spec.query_text:
        user.append({"type": "text", "text": spec.query_text})
    user.append({"type": "text", "text": DOCUMENT_PREFIX})
    if spec.doc_image_tokens is not None:
        user.append({"type": "image"})
    if spec.doc_text:
        user.append({"type": "text", "text": spec.doc_text})
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": user},
    ]


def _image(tokens: int | None) -> str:
    if tokens is None:
        return ""
    if tokens < 1:
        raise ValueError(f"an image needs at least one token, got {tokens}")
    return VISION_START + IMAGE_PAD * tokens + VISION_END


def render(spec: PromptSpec) -> str:
    """The full prompt text, image placeholders expanded, ending with the assistant opener.

    Equal to the Qwen2.5-VL chat template applied to `messages(spec)` with
    add_generation_prompt, after the processor's expansion of each <|image_pad|>.
    """
    user = (
        INSTRUCT_PREFIX
        + spec.instruction
        + QUERY_PREFIX
        + _image(spec.query_image_tokens)
        + (spec.query_text or "")
        + DOCUMENT_PREFIX
        + _image(spec.doc_image_tokens)
        + (spec.doc_text or "")
    )
    return (
        f"{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n"
        f"{IM_START}user\n{user}{IM_END}\n"
        f"{IM_START}assistant\n"
    )


def truncate_document(tokenizer: Any, text: str | None, max_chars: int, max_tokens: int) -> str:
    """Cap document text to `max_chars` characters, then to `max_tokens` tokens.

    Truncation happens on the text alone, before the template, so it can never cut through
    image tokens or the template's closing turn.
    """
    if not text:
        return ""
    text = text[:max_chars]
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= max_tokens:
        return text
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=False)


def encode(tokenizer: Any, spec: PromptSpec) -> list[int]:
    """Token ids of the rendered prompt (one tokenizer call, so BPE sees the real context)."""
    ids = tokenizer.encode(render(spec), add_special_tokens=False)
    return list(ids)


def answer_token_ids(tokenizer: Any) -> tuple[int, int]:
    """(no, yes) token ids; both must be single tokens or the score is meaningless."""
    out = []
    for word in (NO_TOKEN, YES_TOKEN):
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"{word!r} is not a single token in this tokenizer: {ids}")
        out.append(ids[0])
    return out[0], out[1]
