"""Real `consent-sync run` processes against the sandbox served by the test process.

Each daemon is a subprocess with the sandbox's credentials in its environment, the repository as
its configuration directory, a 1 s pull interval and its own HTTP port; its log goes to a file
the test can read when something fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync_sandbox.runner import RunningSandbox
from support.paths import CONSENT_SYNC, REPO
from support.ports import free_port
from support.sandboxes import sandbox_control
from support.waiting import wait_for


@dataclass
class Daemon:
    """One `consent-sync run` subprocess."""

    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        """Start the process, its output appended to `log_path`."""
        command = [str(CONSENT_SYNC), "run", "--port", str(self.port), "--pull-interval", "1"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *self.args], env=self.env, stdout=log, stderr=log
            )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def url(self, path: str) -> str:
        """The daemon's own HTTP URL for `path`."""
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> httpx.Response:
        """GET one of the daemon's HTTP endpoints."""
        return httpx.get(self.url(path), timeout=5)

    def ready(self) -> bool:
        """Whether /readyz says 200; fails the test if the process has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.tail()}")
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> float:
        """Wait until ready; the seconds it took."""
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
        """kill -9 if still running; for teardown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        """The last lines of the daemon's log."""
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
        """A daemon's environment: ours, the sandbox's credentials, the repository, the store."""
        env = dict(os.environ)
        env.update(self.sandbox.env)
        env["CONSENT_SYNC_CONFIG"] = str(REPO)
        env["CONSENT_SYNC_DATABASE_URL"] = self.database_url
        return env

    def daemon(self, *args: str) -> Daemon:
        """Start one more daemon with extra `run` arguments."""
        log_path = self.work / f"daemon-{len(self.daemons)}.log"
        daemon = Daemon(self.env(), log_path, list(args)).start()
        self.daemons.append(daemon)
        return daemon

    def control(self, system: str) -> httpx.Client:
        """An HTTP client for one of the sandbox's emulators."""
        return sandbox_control(self.sandbox, system)

    def act(self, system: str, body: dict[str, Any]) -> None:
        """A person acts in `system` (`/_sandbox/act`)."""
        with self.control(system) as client:
            response = client.post("/_sandbox/act", json=body)
        assert response.status_code == 200, response.text

    def salesforce_records(self, email: str) -> list[dict[str, Any]]:
        """The live Salesforce records with `email`, as the emulator holds them."""
        with self.control("salesforce") as client:
            records: list[dict[str, Any]] = client.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        return [r for r in records if not r["IsDeleted"]]

    def hubspot_contact(self, email: str) -> dict[str, Any]:
        """The HubSpot contact with `email`, as the emulator holds it."""
        with self.control("hubspot") as client:
            contact: dict[str, Any] = client.get(
                "/_sandbox/contacts", params={"email": email}
            ).json()
        return contact

    def stop_all(self) -> None:
        """kill -9 every daemon still running."""
        for daemon in self.daemons:
            daemon.stop_quietly()


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, sandbox: RunningSandbox, tmp_path: Path
) -> Iterator[Harness]:
    """Daemons on the module's sandbox and a fresh database, all stopped after the test.

    The database is the fixture the module names in `DATABASE`: "sqlite_url" unless it says
    "pg_url".
    """
    database_url: str = request.getfixturevalue(getattr(request.module, "DATABASE", "sqlite_url"))
    world = Harness(sandbox, database_url, tmp_path)
    yield world
    world.stop_all()
