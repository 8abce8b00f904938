"""RulesStore: defaults, hot reload, and keeping the last good rules on a broken file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sidecar.rules import RulesError, RuleSet, RulesStore, load_rules_file

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.example.yaml"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_no_path_gives_defaults() -> None:
    store = RulesStore(None)
    assert store.current() == RuleSet()
    assert store.last_error is None


def test_example_file_loads() -> None:
    rules = load_rules_file(EXAMPLE)
    assert rules.min_score == 0.4
    assert rules.boosts[0].id == "bestsellers"
    assert rules.for_index("books").blend is None


def test_edit_is_picked_up_by_the_next_current(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.4\n")
    store = RulesStore(path, check_interval_ms=0)
    assert store.current().min_score == 0.4
    write(path, "min_score: 0.6\n")  # same size, likely the same mtime tick
    assert store.current().min_score == 0.6
    write(path, "min_score: 0.25\nboosts: []\n")
    assert store.current().min_score == 0.25
    assert store.last_error is None


def test_checks_are_rate_limited(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.4\n")
    clock = FakeClock()
    store = RulesStore(path, check_interval_ms=1000, clock=clock)
    store.current()  # schedules the next check one second from now
    write(path, "min_score: 0.7\n")
    assert store.current().min_score == 0.4
    clock.now += 1.0
    assert store.current().min_score == 0.7


def test_old_unchanged_file_is_not_reparsed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.4\n")
    os.utime(path, (1_000_000, 1_000_000))  # long ago: stat alone decides
    store = RulesStore(path, check_interval_ms=0)
    first = store.current()
    assert store.current() is first


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ("min_score: 2\n", "min_score: Input should be less than or equal to 1"),
        ("boosts: [\n", "not valid YAML"),
        ("", "is empty"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_broken_file_keeps_last_good_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: str, reason: str
) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.3\n")
    store = RulesStore(path, check_interval_ms=0)
    with caplog.at_level(logging.WARNING, logger="sidecar.rules.store"):
        write(path, broken)
        assert store.current().min_score == 0.3
    assert store.last_error is not None and reason in store.last_error
    assert reason in caplog.text
    write(path, "min_score: 0.35\n")
    assert store.current().min_score == 0.35
    assert store.last_error is None


def test_deleted_file_keeps_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.3\n")
    store = RulesStore(path, check_interval_ms=0)
    path.unlink()
    assert store.current().min_score == 0.3
    assert store.last_error is not None and "cannot read rules file" in store.last_error


def test_reload_checks_immediately(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "min_score: 0.4\n")
    store = RulesStore(path, check_interval_ms=60_000)
    write(path, "min_score: 0.5\n")
    assert store.reload().min_score == 0.5


def test_first_load_must_succeed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "pins: [{id: p, match: regex, query: '(', ids: [a]}]\n")
    with pytest.raises(RulesError, match="invalid regex"):
        RulesStore(path)
    with pytest.raises(RulesError, match="cannot read rules file"):
        RulesStore(tmp_path / "missing.yaml")


def test_oversized_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, "# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(RulesError, match="larger than"):
        load_rules_file(path)
