"""What the API's routes work with: the store, the configuration's purposes, and the daemon."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consent_sync.domain.model import Purpose, Targets
from consent_sync.domain.records import Quota
from consent_sync.store import Store


def _nothing() -> None:
    return None


def _no_quota(_system: str) -> Quota | None:
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiContext:
    """One API over one store and configuration.

    `wake_pushers` is called after a request queued writes (the daemon's pushers run at once);
    `quota` answers a system's API quota as its connector last saw it.
    """

    store: Store
    purposes: Mapping[str, Purpose]
    systems: tuple[str, ...] = ()
    targets: Targets | None = None
    wake_pushers: Callable[[], None] = _nothing
    quota: Callable[[str], Quota | None] = _no_quota
    clock: Callable[[], datetime] = field(default=_now)
