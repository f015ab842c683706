"""Real `consent-sync run` processes against the sandboxes served by the test process.

Each daemon is a subprocess with the sandbox's credentials in its environment, the repository as
its configuration directory, a 1 s pull interval and its own HTTP port; its log goes to a file
the test can read when something fails.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.domain.mapping import observe, targets
from consent_sync.domain.model import ConflictKind, Status
from consent_sync.store import Store
from consent_sync_sandbox.runner import RunningSandbox

REPO = Path(__file__).resolve().parents[2]
CONSENT_SYNC = Path(sys.executable).parent / "consent-sync"
PG_ADDRESS = "postgres@127.0.0.1:5432"
MARKETING = 1001  # the sandbox portal's "Marketing Information" subscription
SYSTEMS = ("salesforce", "hubspot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll `check` until true; returns the seconds it took, fails the test after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


@dataclass
class Daemon:
    """One `consent-sync run` subprocess."""

    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        command = [str(CONSENT_SYNC), "run", "--port", str(self.port), "--pull-interval", "1"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *self.args], env=self.env, stdout=log, stderr=log
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url(path), timeout=5)

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.tail()}")
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> float:
        return wait_for(self.ready, timeout, "the daemon to be ready")

    def terminate(self, timeout: float = 40) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9, reaped at once so its pid is gone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Harness:
    """Starts daemons with one sandbox and one database; stops them all at the end."""

    sandbox: RunningSandbox
    database_url: str
    work: Path
    daemons: list[Daemon] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.sandbox.env)
        env["CONSENT_SYNC_CONFIG"] = str(REPO)
        env["CONSENT_SYNC_DATABASE_URL"] = self.database_url
        return env

    def daemon(self, *args: str) -> Daemon:
        log_path = self.work / f"daemon-{len(self.daemons)}.log"
        daemon = Daemon(self.env(), log_path, list(args)).start()
        self.daemons.append(daemon)
        return daemon

    def control(self, system: str) -> httpx.Client:
        trust = ssl.create_default_context(cafile=str(self.sandbox.tls.ca_pem))
        return httpx.Client(base_url=self.sandbox.base_url(system), verify=trust, timeout=30)

    def act(self, system: str, body: dict[str, Any]) -> None:
        with self.control(system) as client:
            response = client.post("/_sandbox/act", json=body)
        assert response.status_code == 200, response.text

    def salesforce_records(self, email: str) -> list[dict[str, Any]]:
        with self.control("salesforce") as client:
            records: list[dict[str, Any]] = client.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        return [r for r in records if not r["IsDeleted"]]

    def hubspot_contact(self, email: str) -> dict[str, Any]:
        with self.control("hubspot") as client:
            contact: dict[str, Any] = client.get(
                "/_sandbox/contacts", params={"email": email}
            ).json()
        return contact

    def stop_all(self) -> None:
        for daemon in self.daemons:
            daemon.stop_quietly()


def statuses(harness: Harness, system: str) -> dict[tuple[str, str], set[Status]]:
    """What one CRM holds per (email, purpose), read through the connector as the daemon reads."""
    config = load_config(REPO, env=harness.sandbox.env)
    connector = build_connector(config.connectors[system], config.mappings[system])
    out: dict[tuple[str, str], set[Status]] = {}
    try:
        for object_type, mapping in config.mappings[system].objects.items():
            for page in connector.pull(object_type, None):
                for record in page.records:
                    mapped = observe(system, mapping, record, record.modified_at)
                    if mapped.keys.email is None or record.deleted:
                        continue
                    for o in mapped.observations:
                        out.setdefault((mapped.keys.email, o.purpose), set()).add(o.status)
    finally:
        connector.close()
    return out


def canonical(store: Store) -> dict[tuple[str, str], Status]:
    """The store's canonical status per (email, purpose)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.email, c.purpose, c.status FROM consent_state c "
                "JOIN subjects s ON s.id = c.subject_id"
            )
        ).all()
    return {(email, purpose): Status(status) for email, purpose, status in rows}


def mismatches(harness: Harness, store: Store) -> list[tuple[str, str, Status, set[Status]]]:
    """I2: shared (email, purpose) pairs where a CRM holds something else than the store.

    Each CRM is held to the canonical value as its fields can say it (an opt-out box unticked for
    a grant); a field that cannot hold the value, or a grant withheld from a HubSpot subscription
    for want of a legal basis, is not held to it.
    """
    config = load_config(REPO, env=harness.sandbox.env)
    held_as = targets(config.mappings)
    withheld = {
        (c.link.split("/")[0] if c.link else "", c.purpose)
        for c in store.conflicts(kind=ConflictKind.GRANT_NOT_REPRESENTABLE)
    }
    truth = canonical(store)
    seen = {system: statuses(harness, system) for system in ("salesforce", "hubspot")}
    wrong = []
    for key in sorted(set(seen["salesforce"]) & set(seen["hubspot"])):
        want = truth.get(key, Status.UNKNOWN)
        if want is Status.UNKNOWN:
            continue
        for system, values in seen.items():
            expected = {
                held.get(want)
                for (name, _, purpose), held in held_as.items()
                if name == system and purpose == key[1]
            }
            if None in expected or not expected:
                continue
            if want is Status.GRANTED and (system, key[1]) in withheld:
                continue
            if values[key] != expected:
                wrong.append((*key, want, values[key]))
    return wrong


def quiescent(store: Store, since: datetime, systems: tuple[str, ...] = SYSTEMS) -> bool:
    """Nothing owed to any system, and each system's latest pull since `since` changed nothing."""
    if any(b.pending for b in store.backlog().values()):
        return False
    for system in systems:
        pulls = [
            r
            for r in store.recent_runs(system, 10)
            if r.kind == "pull" and r.finished_at is not None and r.started_at > since
        ]
        if not pulls:
            return False
        latest = pulls[0].counts
        if pulls[0].error or any(latest.get(k) for k in ("decisions", "queued", "writes_ok")):
            return False
    return True


def shared_granted_people(store: Store, count: int) -> list[str]:
    """Emails linked in both CRMs whose marketing email is not opted out (granted or not)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.email FROM subjects s JOIN consent_state c ON c.subject_id = s.id "
                "WHERE c.purpose = 'email_marketing' AND "
                "c.status IN ('granted', 'not_opted_out') AND "
                "(SELECT COUNT(DISTINCT l.system) FROM links l "
                " WHERE l.subject_id = s.id AND l.ended_at IS NULL) = 2 "
                "ORDER BY s.email LIMIT :n"
            ),
            {"n": count},
        ).all()
    return [email for (email,) in rows]
