"""The one retry policy for all CRM HTTP: bounded, honouring Retry-After, never multiplied.

SDK-level retries are off everywhere (urllib3 `retries=0`, requests adapters with
`max_retries=0`), so this layer is the only one that retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import structlog
import tenacity

from consent_sync.connectors.protocol import TransientError

T = TypeVar("T")
log = structlog.get_logger(__name__)


def parse_retry_after(value: str | None, now: datetime, ceiling: float = 120.0) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date), clamped."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(ceiling, seconds))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts, total time, and the exponential backoff between tries."""

    attempts: int = 6
    max_elapsed: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 30.0
    retry_after_ceiling: float = 120.0


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Wait what the server asked (Retry-After), else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.fallback = tenacity.wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(error.retry_after, self.policy.retry_after_ceiling)
        return float(self.fallback(retry_state))


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning(
        "retrying",
        attempt=retry_state.attempt_number,
        error=str(error),
        wait=round(retry_state.upcoming_sleep, 3),
    )


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[TransientError], None] | None = None,
) -> T:
    """Call `fn`, retrying TransientError per `policy`; the last error is re-raised as is."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        _log_retry(state)
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if on_retry is not None and isinstance(error, TransientError):
            on_retry(error)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        stop=tenacity.stop_after_attempt(policy.attempts)
        | tenacity.stop_after_delay(policy.max_elapsed),
        wait=_WaitRetryAfter(policy),
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep or tenacity.nap.sleep,
    )
    return retrying(fn)
