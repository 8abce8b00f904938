"""Query normalization: width, spacing, model numbers, dictionary casing, CJK."""

from __future__ import annotations

import pytest

from sidecar.normalize import QueryNormalizer, normalize_query

CASES = [
    # (input, expected)
    ("iPhone15pro max", "iPhone 15 Pro Max"),
    ("iphone15promax", "iPhone 15 Pro Max"),
    ("  galaxy   s24ultra ", "Galaxy s 24 Ultra"),
    ("airpodspro 2", "AirPods Pro 2"),
    ("macbookair m2", "MacBook Air M2"),
    ("iphone5g case", "iPhone 5G case"),
    ("ps5 slim", "PS5 slim"),
    ("128gb ssd", "128 GB SSD"),
    ("3.5mm jack", "3.5 mm jack"),
    ("running shoes", "running shoes"),
    ("provision", "provision"),  # not fully made of dictionary words: untouched
    ("Pro-Max", "Pro-Max"),
    ("", ""),
    ("   \t\n ", ""),
    # full-width forms (NFKC)
    ("ｉＰｈｏｎｅ１５", "iPhone 15"),
    ("ｉＰｈｏｎｅ１５\u3000ｐｒｏ", "iPhone 15 Pro"),
    ("ＡＢＣ１２３", "ABC 123"),
    # CJK stays whole; CJK next to latin letters or digits gets a space
    ("苹果iPhone15手机", "苹果 iPhone 15 手机"),
    ("苹果手机", "苹果手机"),
    ("华为mate60pro", "华为 Mate 60 Pro"),
    ("小米14 ultra 手机壳", "小米 14 Ultra 手机壳"),
    ("macbookair m2 13寸", "MacBook Air M2 13 寸"),
    ("ｉＰｈｏｎｅ１５手机壳", "iPhone 15 手机壳"),
    ("スマホケースiphone", "スマホケース iPhone"),
    ("갤럭시s24", "갤럭시 s 24"),
    ("苹果，手机", "苹果,手机"),  # full-width comma to ASCII, no space added
    # control characters become spaces
    ("iphone\x0015", "iPhone 15"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_query(text: str, expected: str) -> None:
    assert normalize_query(text) == expected


@pytest.mark.parametrize(("text", "_expected"), CASES)
def test_normalize_is_idempotent(text: str, _expected: str) -> None:
    once = normalize_query(text)
    assert normalize_query(once) == once


def test_extra_dictionary_words_override_default_spelling() -> None:
    normalizer = QueryNormalizer(["IPHONE", "Lychee", "S24"])
    assert normalizer("iphone15") == "IPHONE 15"
    assert normalizer("lycheephone") == "lycheephone"  # "phone" is not a known word
    assert normalizer("lychee galaxys24") == "Lychee Galaxy S24"


def test_normalize_query_accepts_a_dictionary() -> None:
    assert normalize_query("foobar9", ["FooBar"]) == "FooBar 9"
    assert normalize_query("iphone15", ["FooBar"]) == "iPhone 15"  # defaults still apply


def test_without_defaults_only_given_words_are_cased() -> None:
    normalizer = QueryNormalizer(["Pro"], include_defaults=False)
    assert normalizer("iphone15pro") == "iphone 15 Pro"


def test_fewest_words_win_when_splitting() -> None:
    normalizer = QueryNormalizer(["Air", "Pods", "AirPods"], include_defaults=False)
    assert normalizer("airpods") == "AirPods"


def test_full_width_dictionary_entries_are_normalized() -> None:
    assert QueryNormalizer(["Ｌｙｃｈｅｅ"], include_defaults=False)("lychee") == "Lychee"


@pytest.mark.parametrize("entry", ["Galaxy S24", "Wi-Fi", "苹果", "", "pro!"])
def test_bad_dictionary_entries_are_rejected(entry: str) -> None:
    with pytest.raises(ValueError, match="normalization dictionary entry"):
        QueryNormalizer([entry])
