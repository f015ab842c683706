"""The shared retry policy: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent_sync.connectors.protocol import PermanentError, TransientError
from consent_sync.connectors.retry import RetryPolicy, call_with_retry, parse_retry_after

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("Sun, 29 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),
        ("86400", 120.0),
        ("-5", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_seconds_or_http_date_clamped(value, expected):
    """Retry-After is read as seconds or an HTTP date, clamped to [0, ceiling]; junk is ignored."""
    assert parse_retry_after(value, NOW) == expected


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_transient_errors_are_retried_until_success():
    """Transient failures are retried and the eventual result returned."""
    sleeps: list[float] = []
    fn = Flaky([TransientError("503", system="s"), TransientError("timeout", system="s")])
    assert call_with_retry(fn, RetryPolicy(initial_wait=0.01), sleep=sleeps.append) == "ok"
    assert fn.calls == 3
    assert len(sleeps) == 2


def test_retry_after_is_honoured():
    """A server's Retry-After decides the wait instead of the backoff."""
    sleeps: list[float] = []
    fn = Flaky([TransientError("429", system="s", retry_after=4.0)])
    call_with_retry(fn, RetryPolicy(), sleep=sleeps.append)
    assert sleeps == [4.0]


def test_attempts_are_bounded_and_last_error_raised():
    """After the attempt budget the last transient error reaches the caller unchanged."""
    errors = [TransientError(f"503 #{i}", system="s") for i in range(10)]
    fn = Flaky(list(errors))
    with pytest.raises(TransientError, match="503 #2"):
        call_with_retry(fn, RetryPolicy(attempts=3, initial_wait=0.0), sleep=lambda _: None)
    assert fn.calls == 3


def test_permanent_errors_are_not_retried():
    """A permanent error fails at once."""
    fn = Flaky([PermanentError("400 INVALID_FIELD", system="s", object_type="Contact")])
    with pytest.raises(PermanentError, match="s/Contact: 400"):
        call_with_retry(fn, RetryPolicy(), sleep=lambda _: None)
    assert fn.calls == 1
