"""What the console works with: the API's context (store, purposes, systems, the pushers' wake),
each system's revocation SLA, and the ledger's last verification."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from consent_sync.api import ApiContext


@dataclass(frozen=True, slots=True)
class LedgerResult:
    """One verification of the ledger's hash chain: when, by whom, and what it found."""

    at: datetime
    ok: bool
    rows: int
    problem: str | None
    by: str  # "daemon" (its hourly check) or the token name that asked in the console


def _never() -> tuple[bool, datetime] | None:
    return None


def _ignore(_ok: bool, _at: datetime) -> None:
    return None


@dataclass
class ConsoleContext:
    """One console over one store and configuration.

    `daemon_verified` answers the daemon's own last verification (ok, when), and `report_verified`
    tells the daemon about one run from the console, so `/metrics` shows the newest result.
    """

    api: ApiContext
    slas: Mapping[str, float]
    daemon_verified: Callable[[], tuple[bool, datetime] | None] = _never
    report_verified: Callable[[bool, datetime], None] = _ignore
    _last: LedgerResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def last_verification(self) -> LedgerResult | None:
        """The newest verification, the console's or the daemon's."""
        with self._lock:
            mine = self._last
        theirs = self.daemon_verified()
        if theirs is not None and (mine is None or theirs[1] > mine.at):
            return LedgerResult(theirs[1], theirs[0], 0, None, "daemon")
        return mine

    def verified(self, result: LedgerResult) -> None:
        """Keep a verification run from the console."""
        with self._lock:
            self._last = result
        self.report_verified(result.ok, result.at)
