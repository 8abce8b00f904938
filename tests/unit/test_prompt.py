"""Pins the Lychee prompt strings and checks the token sequence of every pairing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from lychee_engine import prompt
from lychee_engine.prompt import PromptSpec


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def test_strings_are_pinned() -> None:
    # Changing any of these changes every score: bump PROMPT_VERSION with them.
    assert prompt.PROMPT_VERSION == "lychee-v1"
    assert prompt.SYSTEM_PROMPT == (
        "Judge whether the Document meets the requirements based on the Query and the "
        'Instruct provided. Note that the answer can only be "yes" or "no".'
    )
    assert prompt.INSTRUCT_PREFIX == "<Instruct>: "
    assert prompt.QUERY_PREFIX == "<Query>:"
    assert prompt.DOCUMENT_PREFIX == "\n<Document>:"
    assert (prompt.NO_TOKEN, prompt.YES_TOKEN) == ("no", "yes")


def test_text_pair_layout() -> None:
    spec = PromptSpec("Find it.", "shoes", None, "Red shoes", None)
    assert prompt.render(spec) == (
        "<|im_start|>system\n" + prompt.SYSTEM_PROMPT + "<|im_end|>\n"
        "<|im_start|>user\n<Instruct>: Find it.<Query>:shoes\n<Document>:Red shoes<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_images_sit_before_text_in_each_part() -> None:
    spec = PromptSpec("I", "q", 2, "d", 3)
    user = prompt.render(spec).split("<|im_start|>user\n")[1]
    pads = "<|vision_start|>{}<|vision_end|>"
    assert user.startswith(
        "<Instruct>: I<Query>:"
        + pads.format("<|image_pad|>" * 2)
        + "q\n<Document>:"
        + pads.format("<|image_pad|>" * 3)
        + "d<|im_end|>"
    )


PAIRINGS = {
    "text-text": PromptSpec("I", "running shoes", None, "light shoes", None),
    "image-text": PromptSpec("I", None, 4, "a red mug", None),
    "text-image": PromptSpec("I", "blue bag", None, None, 6),
    "both-both": PromptSpec("I", "green", 4, "green shirt", 8),
    "image-image": PromptSpec("I", None, 4, None, 4),
}


@pytest.mark.parametrize("name", PAIRINGS)
def test_render_equals_chat_template(tokenizer: Any, name: str) -> None:
    spec = PAIRINGS[name]
    templated = tokenizer.apply_chat_template(
        prompt.messages(spec), tokenize=False, add_generation_prompt=True
    )
    # The processor expands each <|image_pad|> to the image's token count, in order.
    parts = templated.split("<|image_pad|>")
    counts = [c for c in (spec.query_image_tokens, spec.doc_image_tokens) if c is not None]
    assert len(parts) == len(counts) + 1
    expanded = parts[0] + "".join(
        "<|image_pad|>" * count + part for count, part in zip(counts, parts[1:], strict=True)
    )
    assert prompt.render(spec) == expanded


@pytest.mark.parametrize("name", PAIRINGS)
def test_image_tokens_counted_in_ids(tokenizer: Any, name: str) -> None:
    spec = PAIRINGS[name]
    ids = prompt.encode(tokenizer, spec)
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    expected = (spec.query_image_tokens or 0) + (spec.doc_image_tokens or 0)
    assert ids.count(pad) == expected
    opener = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    assert ids[-len(opener) :] == opener


def test_document_capped_by_chars_then_tokens(tokenizer: Any) -> None:
    text = "lightweight running shoes for men " * 40
    assert prompt.truncate_document(tokenizer, text, 30, 1000) == text[:30]
    short = prompt.truncate_document(tokenizer, text, 10_000, 12)
    assert len(tokenizer.encode(short, add_special_tokens=False)) <= 12
    assert text.startswith(short)
    assert prompt.truncate_document(tokenizer, None, 10, 10) == ""


def test_truncation_never_touches_image_tokens(tokenizer: Any) -> None:
    doc = prompt.truncate_document(tokenizer, "waterproof jacket " * 100, 512, 5)
    ids = prompt.encode(tokenizer, PromptSpec("I", "q", 7, doc, 9))
    assert ids.count(tokenizer.convert_tokens_to_ids("<|image_pad|>")) == 16
    assert prompt.render(PromptSpec("I", "q", 7, doc, 9)).endswith("<|im_start|>assistant\n")


def test_answer_tokens(tokenizer: Any) -> None:
    no, yes = prompt.answer_token_ids(tokenizer)
    assert tokenizer.decode([no]) == "no" and tokenizer.decode([yes]) == "yes"


def test_answer_tokens_must_be_single(tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt, "YES_TOKEN", "yes yes")
    with pytest.raises(ValueError, match="not a single token"):
        prompt.answer_token_ids(tokenizer)


def test_image_needs_tokens() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        prompt.render(PromptSpec("I", "q", 0, "d", None))
