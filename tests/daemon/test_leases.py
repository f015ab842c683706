"""Leases between processes: one holder at a time, released at once, a dead local holder's lease
taken over at once, a live one's only after it expires."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from consent_sync.daemon.leases import Leases, holder_is_dead, new_holder_id
from consent_sync.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TTL = timedelta(seconds=30)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_holder_ids_name_host_and_pid_and_differ_per_incarnation() -> None:
    """`hostname:pid:nonce`, a new nonce each time."""
    first, second = new_holder_id(), new_holder_id()
    assert first.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert first != second


def test_only_a_gone_local_process_counts_as_dead() -> None:
    """Dead: a reaped pid here, or an earlier incarnation of this pid. Never another host's."""
    host = socket.gethostname()
    assert holder_is_dead(f"{host}:{dead_pid()}:abcd")
    assert holder_is_dead(f"{host}:{os.getpid()}:another-incarnation")
    assert not holder_is_dead(f"{host}:{os.getppid()}:abcd")
    assert not holder_is_dead(f"elsewhere.example:{dead_pid()}:abcd")
    assert not holder_is_dead("not a holder id")


def test_one_holder_at_a_time_and_release_frees_at_once(store: Store) -> None:
    """While A holds a lease B cannot take it; once A releases, B can at once."""
    clock = [T0]
    host = socket.gethostname()
    a = Leases(store, ttl=TTL, holder=f"{host}:{os.getppid()}:a", clock=lambda: clock[0])
    b = Leases(store, ttl=TTL, holder=f"{host}:{os.getppid()}:b", clock=lambda: clock[0])
    assert a.acquire("system:hubspot")
    assert not b.acquire("system:hubspot")
    assert b.current_holder("system:hubspot") == a.holder
    a.release("system:hubspot")
    assert b.acquire("system:hubspot")
    assert b.held() == frozenset({"system:hubspot"})


def test_a_live_holder_keeps_its_lease_until_it_expires(store: Store) -> None:
    """A holder that is alive (or elsewhere) loses its lease only after the TTL."""
    clock = [T0]
    a = Leases(store, ttl=TTL, holder=f"elsewhere.example:{os.getpid()}:a", clock=lambda: clock[0])
    b = Leases(store, ttl=TTL, clock=lambda: clock[0])
    assert a.acquire("system:salesforce")
    clock[0] = T0 + TTL - timedelta(seconds=1)
    assert not b.acquire("system:salesforce")
    clock[0] = T0 + TTL
    assert b.acquire("system:salesforce")


def test_a_dead_local_holder_is_taken_over_before_expiry(store: Store) -> None:
    """A lease held by a process of this host that is gone is taken over at once."""
    clock = [T0]
    corpse = Leases(
        store, ttl=TTL, holder=f"{socket.gethostname()}:{dead_pid()}:x", clock=lambda: clock[0]
    )
    assert corpse.acquire("replica")
    heir = Leases(store, ttl=TTL, clock=lambda: clock[0])
    assert heir.acquire("replica")
    assert heir.current_holder("replica") == heir.holder


def test_renew_drops_a_lease_another_holder_took(store: Store) -> None:
    """A lease that expired and moved to another holder is no longer counted as held."""
    clock = [T0]
    a = Leases(store, ttl=TTL, holder=f"elsewhere.example:{os.getpid()}:a", clock=lambda: clock[0])
    b = Leases(store, ttl=TTL, clock=lambda: clock[0])
    assert a.acquire("system:hubspot")
    clock[0] = T0 + TTL * 2
    assert b.acquire("system:hubspot")
    a.renew()
    assert a.held() == frozenset()
    b.renew()
    assert b.held() == frozenset({"system:hubspot"})
