"""Leases held by this process: claimed in the database, renewed by a heartbeat, released on exit.

A lease is a row (name, holder, expiry). This process holds one when the database says so; a
heartbeat thread extends every lease held while work runs, so only a dead or stalled process
lets one expire. A lease whose holder is a process on this host that no longer exists (a
`kill -9`, a crash, a restart) is taken over at once instead of after its expiry.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.logs import brief, bug_traceback
from consent_sync.store import Store

log = structlog.get_logger(__name__)

DEFAULT_TTL = timedelta(seconds=30)


def new_holder_id() -> str:
    """`hostname:pid:random`: unique per process incarnation, readable by an operator."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead(holder: str) -> bool:
    """True only when `holder` names a process of this host that is gone (never a guess).

    Same host and pid but another nonce means an earlier incarnation of this very pid.
    """
    host, _, rest = holder.partition(":")
    pid_text, _, _nonce = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Leases:
    """The leases this process holds in one store, kept alive by a heartbeat thread."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: timedelta = DEFAULT_TTL,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder or new_holder_id()
        self.clock = clock
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def acquire(self, name: str) -> bool:
        """Claim `name` for this process (or renew it); False while another live holder has it."""
        now = self.clock()
        won = self.store.coordination.acquire_lease(name, self.holder, now + self.ttl, now)
        if not won:
            won = self._take_over_dead(name, now)
        if won:
            with self._lock:
                self._held.add(name)
        return won

    def current_holder(self, name: str) -> str | None:
        """Who holds `name` now, if anyone (expired or not)."""
        row = self.store.coordination.lease(name)
        return row.acquired_by if row is not None else None

    def _take_over_dead(self, name: str, now: datetime) -> bool:
        row = self.store.coordination.lease(name)
        if row is None or not holder_is_dead(row.acquired_by):
            return False
        taken = self.store.coordination.take_over_lease(
            name, self.holder, row.acquired_by, now + self.ttl
        )
        if taken:
            log.info("lease taken over from a dead process", lease=name, previous=row.acquired_by)
        return taken

    def release(self, name: str) -> None:
        """Give `name` up so another replica can take it at once."""
        with self._lock:
            self._held.discard(name)
        self.store.coordination.release_lease(name, self.holder)

    def held(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)

    def renew(self) -> None:
        """Extend every lease held; one lost to another holder is dropped and logged."""
        now = self.clock()
        for name in sorted(self.held()):
            if not self.store.coordination.acquire_lease(name, self.holder, now + self.ttl, now):
                with self._lock:
                    self._held.discard(name)
                log.error("lease lost to another holder while held", lease=name)

    def start_heartbeat(self) -> None:
        """Renew held leases every third of the TTL until `stop`."""
        self._heartbeat.start()

    def _beat(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self.renew()
            except SQLAlchemyError as exc:
                log.warning("lease heartbeat failed; retrying", error=type(exc).__name__)
            except Exception as exc:
                # A bug must not end the thread: leases unrenewed would pass to other replicas
                # while this one still works under them.
                log.error("lease heartbeat failed", error=brief(exc), **bug_traceback(exc))

    def stop(self) -> None:
        """Stop the heartbeat and release every lease still held (best effort)."""
        self._stop.set()
        for name in sorted(self.held()):
            try:
                self.release(name)
            except SQLAlchemyError as exc:
                log.warning("lease not released; it expires", lease=name, error=str(exc))
