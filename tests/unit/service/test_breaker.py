"""The circuit breaker: opens after failures, lets one trial through, closes on success."""

from service.store.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_s=1.0, clock=clock)
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 1.5
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # trial failed: open again
    assert not breaker.allow()
    clock.now = 3.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
