"""Step aside: what the backend cannot judge is passed through, and why."""

from __future__ import annotations

import pytest

from lychee_engine.minilm_backend import MiniLMBackend
from lychee_engine.types import ScorerCapabilities, capabilities_of
from sidecar.step_aside import QUERY_IMAGE_UNSUPPORTED, UNREADABLE_SCRIPT, decide, script_of

MINILM = MiniLMBackend.capabilities
LYCHEE = ScorerCapabilities(images=True, query_images=True)


@pytest.mark.parametrize(
    ("ch", "script"),
    [("a", "Latin"), ("é", "Latin"), ("牛", "Han"), ("カ", "Katakana"), ("ｶ", "Katakana"),
     ("ｒ", "Latin"), ("ж", "Cyrillic"), ("한", "Hangul"), ("5", None), (" ", None), ("-", None)],
)  # fmt: skip
def test_scripts(ch: str, script: str | None) -> None:
    assert script_of(ch) == script


@pytest.mark.parametrize(
    ("text", "scored"),
    [
        ("retro denim jacket", "retro denim jacket"),
        ("café crème mug", "café crème mug"),
        ("iPhone 15 Pro", "iPhone 15 Pro"),
        ("牛仔外套 denim jacket", "denim jacket"),  # 2 Han words beside 2 Latin ones
        ("jacket 夹克", "jacket"),
    ],
)
def test_latin_and_readable_mixed_queries_are_scored_on_what_minilm_reads(
    text: str, scored: str
) -> None:
    decision = decide(text, False, None, MINILM, "MiniLM")
    assert not decision.skip
    assert decision.text == scored
    if scored != text:
        assert decision.notes["query_scored_as"] == scored


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("复古风牛仔外套", "Han"),
        ("iPhone 15 手机壳", "Han"),  # the readable part names the phone, not the case
        ("a 牛仔", "Han"),  # no readable word of three letters
        ("кожаная сумка", "Cyrillic"),
        ("가죽 가방", "Hangul"),
    ],
)
def test_queries_mostly_in_an_unread_script_are_skipped(text: str, script: str) -> None:
    decision = decide(text, False, None, MINILM, "MiniLM")
    assert decision.reason == UNREADABLE_SCRIPT
    assert decision.detail == f"the query is mostly in {script} script; MiniLM reads Latin only"


def test_a_backend_reading_every_script_scores_everything() -> None:
    decision = decide("复古风牛仔外套", False, None, LYCHEE, "lychee")
    assert not decision.skip and decision.text == "复古风牛仔外套"


@pytest.mark.parametrize("text", ["", "retro denim jacket"])
def test_a_query_image_on_a_text_only_backend_is_skipped(text: str) -> None:
    decision = decide(text, True, None, MINILM, "MiniLM")
    assert decision.reason == QUERY_IMAGE_UNSUPPORTED
    assert decision.detail == "MiniLM cannot read a query image"
    assert not decide(text, True, None, LYCHEE, "lychee").skip


def test_an_ignored_instruction_is_reported() -> None:
    decision = decide("mug", False, "Find gifts.", MINILM, "MiniLM")
    assert not decision.skip
    assert "MiniLM does not read instructions" in decision.notes["instruction_ignored"]
    assert decide("mug", False, "Find gifts.", LYCHEE, "lychee").notes == {}
    assert decide("mug", False, None, MINILM, "MiniLM").notes == {}


def test_capabilities_of_scorers_that_do_not_describe_themselves() -> None:
    class Old:
        supports_images = True

    assert capabilities_of(Old()) == ScorerCapabilities(images=True, query_images=True)
    assert capabilities_of(object()).images is False
    assert MINILM.as_dict() == {
        "images": False,
        "query_images": False,
        "scripts": ["Latin"],
        "languages": ["en"],
        "instruction": False,
    }
