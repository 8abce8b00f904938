"""The circuit breaker half-opens with exactly one probe at a time (issue 14, item 6)."""

from __future__ import annotations

from sidecar.breaker import BreakerState, CircuitBreaker


def _opened(now: list[float]) -> CircuitBreaker:
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    return breaker


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    now = [0.0]
    breaker = _opened(now)
    assert not breaker.allow()
    now[0] = 10.5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert [breaker.allow() for _ in range(5)] == [False] * 5  # everyone else waits
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_a_failed_probe_opens_again_for_the_whole_reset_time() -> None:
    now = [0.0]
    breaker = _opened(now)
    now[0] = 10.5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 20.0
    assert not breaker.allow()  # reset counts from the failed probe
    now[0] = 20.6
    assert breaker.allow() and not breaker.allow()


def test_a_probe_without_verdict_frees_the_slot_for_the_next_one() -> None:
    now = [0.0]
    breaker = _opened(now)
    now[0] = 10.5
    assert breaker.allow()
    breaker.abandon()  # e.g. the prober's client went away, or its input was refused
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()


def test_closed_breaker_opens_only_on_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 10.0, clock=lambda: 0.0)
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.abandon()  # no verdict: the count stands
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
