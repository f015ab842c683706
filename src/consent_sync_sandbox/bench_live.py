"""The benchmark against a running `consent-sync run`: propagation latency, and CLI start-up.

Propagation: people act in the sandboxes at random moments (HubSpot footer unsubscribes,
Salesforce reps ticking Email Opt Out) while a real daemon runs on the backfilled store; each
latency is the time until the other CRM shows the denial. On the webhook path the HubSpot sandbox
posts signed webhooks to the daemon and its pulls are 300 s apart (polling cannot explain what is
seen); on the poll path webhooks are off and the daemon pulls every `interval` seconds.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from consent_sync_sandbox.hubspot.props import MARKETING_SUBSCRIPTION_ID
from consent_sync_sandbox.runner import RunningSandbox

CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")
SYSTEMS = ("salesforce", "hubspot")
ARRIVAL_TIMEOUT = 30.0  # seconds an action may take before it counts as not arrived
SPACING = 0.25  # mean seconds between two actions


@dataclass
class Latencies:
    """One path's measured latencies, by direction, and the actions that never arrived."""

    path: str
    interval: float
    seconds: list[float] = field(default_factory=list)
    by_direction: dict[str, list[float]] = field(default_factory=dict)
    missing: int = 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Live:
    """The sandbox's controls, and `consent-sync run` processes on one store."""

    def __init__(self, sandbox: RunningSandbox, config_dir: Path, database_url: str) -> None:
        self.sandbox = sandbox
        self.env = {
            **os.environ,
            **sandbox.env,
            "CONSENT_SYNC_CONFIG": str(config_dir),
            "CONSENT_SYNC_DATABASE_URL": database_url,
        }
        trust = ssl.create_default_context(cafile=str(sandbox.tls.ca_pem))
        self.sf = httpx.Client(base_url=sandbox.base_url("salesforce"), verify=trust, timeout=30)
        self.hs = httpx.Client(base_url=sandbox.base_url("hubspot"), verify=trust, timeout=30)

    def close(self) -> None:
        self.sf.close()
        self.hs.close()

    # --- what the CRMs hold ---------------------------------------------------------------
    def sf_contacts(self, email: str) -> list[dict[str, Any]]:
        """The live Salesforce Contacts of `email` (a person may be a Lead there instead)."""
        records = self.sf.get("/_sandbox/records", params={"email": email}).json()
        return [r for r in records if not r.get("IsDeleted")]

    def sf_opted_out(self, email: str) -> bool:
        live = self.sf_contacts(email)
        return bool(live) and all(r["HasOptedOutOfEmail"] is True for r in live)

    def hs_status(self, email: str) -> str | None:
        """The HubSpot contact's marketing-email status; None when HubSpot has no such contact."""
        response = self.hs.get("/_sandbox/contacts", params={"email": email})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        subscription = response.json()["subscriptions"].get(str(MARKETING_SUBSCRIPTION_ID), {})
        return str(subscription.get("status") or "NOT_SPECIFIED")

    def hs_unsubscribed(self, email: str) -> bool:
        return self.hs_status(email) == "UNSUBSCRIBED"

    def act(self, direction: str, email: str) -> None:
        if direction == "hubspot->salesforce":
            body = {
                "action": "unsubscribe",
                "email": email,
                "subscription_id": MARKETING_SUBSCRIPTION_ID,
            }
            self.hs.post("/_sandbox/act", json=body).raise_for_status()
        else:
            body = {"action": "update", "email": email, "fields": {"HasOptedOutOfEmail": True}}
            self.sf.post("/_sandbox/act", json=body).raise_for_status()

    def arrived(self, direction: str, email: str) -> bool:
        if direction == "hubspot->salesforce":
            return self.sf_opted_out(email)
        return self.hs_unsubscribed(email)

    # --- the daemon -----------------------------------------------------------------------
    def daemon(self, interval: float, log: Path) -> tuple[subprocess.Popen[bytes], int]:
        """`consent-sync run` on the store, ready (its first pulls done), and its port."""
        port = _free_port()
        command = [str(CONSENT_SYNC), "run", "--port", str(port)]
        command += ["--pull-interval", f"{interval:g}"]
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=self.env, stdout=out, stderr=out)  # noqa: S603
        try:
            before = self._finished_pulls()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"the daemon exited with {process.returncode}; see {log}")
                # Steady state: measure from after the start-up pull of every system (a restart
                # re-reads its lookback window; acts during it would time the restart instead).
                if before is None:  # the store was busy: the daemon's first pull is young
                    before = self._finished_pulls()
                elif self._ready(port) and self._pulled_since(before):
                    return process, port
                time.sleep(0.2)
            raise RuntimeError(f"the daemon was not ready in 300 s; see {log}")
        except BaseException:
            stop(process)  # never leave a daemon running behind a failed scenario
            raise

    def _ready(self, port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def _pulled_since(self, before: dict[str, int]) -> bool:
        """Whether every system has finished a pull since `before` was counted."""
        finished = self._finished_pulls()
        return finished is not None and all(n > before[s] for s, n in finished.items())

    def _finished_pulls(self) -> dict[str, int] | None:
        """Finished pull runs per system in the store (of the newest 200 runs); None while the
        store cannot be read (a daemon's start-up pull over a large SQLite store can hold it
        past the busy timeout)."""
        from sqlalchemy.exc import OperationalError

        from consent_sync.store import Store

        counts = dict.fromkeys(SYSTEMS, 0)
        try:
            with Store.open(self.env["CONSENT_SYNC_DATABASE_URL"]) as store:
                for run in store.views.recent_runs(limit=200):
                    if run.kind == "pull" and run.finished_at is not None and run.system in counts:
                        counts[run.system] += 1
        except OperationalError:
            return None
        return counts

    def webhooks(self, port: int | None) -> None:
        """Point the HubSpot sandbox's webhooks at the daemon on `port`, or stop them."""
        if port is None:
            self.hs.delete("/_sandbox/webhooks").raise_for_status()
            return
        config = {
            "target_url": f"http://127.0.0.1:{port}/webhooks/hubspot",
            "client_secret": self.sandbox.env["HUBSPOT_CLIENT_SECRET"],
            "retry_base_seconds": 0.5,
            "flush_seconds": 0.05,
        }
        self.hs.put("/_sandbox/webhooks", json=config).raise_for_status()


def people(live: Live, candidates: Iterator[str]) -> Iterator[str]:
    """Emails held by a Salesforce Contact and a HubSpot contact, opted out in neither."""
    for email in candidates:
        contacts = live.sf_contacts(email)
        if not contacts or any(r["HasOptedOutOfEmail"] is True for r in contacts):
            continue
        status = live.hs_status(email)
        if status is not None and status != "UNSUBSCRIBED":
            yield email


def measure(
    live: Live, plan: list[tuple[str, str]], rng: random.Random, path: str, interval: float
) -> Latencies:
    """Perform `plan` (direction, email) at random moments; time each until it arrived."""
    result = Latencies(path, interval)
    moments: list[float] = []
    now = 0.0
    for _ in plan:
        now += rng.expovariate(1 / SPACING)
        moments.append(now)
    started = time.monotonic()
    pending: dict[str, tuple[str, float]] = {}
    queue = list(zip(moments, plan, strict=True))
    while queue or pending:
        elapsed = time.monotonic() - started
        while queue and queue[0][0] <= elapsed:
            _, (direction, email) = queue.pop(0)
            live.act(direction, email)
            pending[email] = (direction, time.monotonic())
        for email, (direction, acted) in list(pending.items()):
            if live.arrived(direction, email):
                latency = time.monotonic() - acted
                result.seconds.append(latency)
                result.by_direction.setdefault(direction, []).append(latency)
                del pending[email]
            elif time.monotonic() - acted > ARRIVAL_TIMEOUT:
                result.missing += 1
                del pending[email]
        time.sleep(0.005)
    return result


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the daemon and wait; kill it if it lingers."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def propagation(
    live: Live, candidates: Iterator[str], samples: int, interval: float, work: Path, seed: int
) -> list[Latencies]:
    """The webhook path (HubSpot -> Salesforce), then the poll path (both directions)."""
    rng = random.Random(seed)
    fresh = people(live, candidates)
    out: list[Latencies] = []
    process, port = live.daemon(300, work / "daemon-webhook.log")
    try:
        live.webhooks(port)
        plan = [("hubspot->salesforce", next(fresh)) for _ in range(samples)]
        out.append(measure(live, plan, rng, "webhook", 300))
    finally:
        live.webhooks(None)
        stop(process)
    process, _ = live.daemon(interval, work / "daemon-poll.log")
    try:
        directions = ("hubspot->salesforce", "salesforce->hubspot")
        plan = [(directions[i % 2], next(fresh)) for i in range(samples)]
        out.append(measure(live, plan, rng, "poll", interval))
    finally:
        stop(process)
    return out


def startup(env: dict[str, str], commands: dict[str, list[str]], tries: int = 5) -> dict[str, Any]:
    """Best-of-`tries` wall seconds of each CLI command as a fresh subprocess, and its exit.

    Bytecode may be cached (an installed package has it; `PYTHONDONTWRITEBYTECODE` would
    have every run compile consent-sync's sources again) and one run warms it up uncounted.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out: dict[str, Any] = {}
    for name, argv in commands.items():
        best = float("inf")
        code = 0
        subprocess.run([str(CONSENT_SYNC), *argv], env=env, capture_output=True, check=False)  # noqa: S603
        for _ in range(tries):
            started = time.monotonic()
            done = subprocess.run(  # noqa: S603 - our own executable
                [str(CONSENT_SYNC), *argv], env=env, capture_output=True, check=False
            )
            best = min(best, time.monotonic() - started)
            code = done.returncode
        out[name] = {"seconds": best, "exit_code": code}
    return out
