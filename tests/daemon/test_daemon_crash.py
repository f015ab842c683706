"""I5 crash safety: `kill -9` the daemon at 20 random moments across the backfill and ongoing
revocations, restart it each time, and I1-I4 still hold once it is quiet."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from consent_sync.domain.model import Status
from consent_sync.store import Store
from support.convergence import canonical, mismatches, quiescent, statuses
from support.daemon import Harness
from support.sandboxes import MARKETING
from support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONTACTS = 3000
SANDBOX_SEED = 17
DATABASE = "pg_url"
KILLS = 20
SEED = 20261129


@dataclass(frozen=True)
class Revocation:
    """A person withdrew consent for `purpose` in `system`."""

    system: str
    email: str
    purpose: str


@dataclass(frozen=True)
class Act:
    system: str
    purpose: str
    body: dict[str, object]


def revocation_for(rng: random.Random, system: str, email: str) -> Act:
    """A random way a person revokes in `system`."""
    if system == "hubspot":
        return rng.choice(
            [
                Act(
                    system,
                    "email_marketing",
                    {"action": "unsubscribe", "email": email, "subscription_id": MARKETING},
                ),
                Act(
                    system,
                    "phone_calls",
                    {"action": "edit", "email": email, "properties": {"phone_consent": "false"}},
                ),
            ]
        )
    field, purpose = rng.choice(
        [("HasOptedOutOfEmail", "email_marketing"), ("DoNotCall", "phone_calls")]
    )
    return Act(system, purpose, {"action": "update", "email": email, "fields": {field: True}})


class People:
    """A thread of people revoking consent in both CRMs until stopped."""

    def __init__(self, harness: Harness, emails: dict[str, list[str]], seed: int) -> None:
        self.harness = harness
        self.emails = emails
        self.rng = random.Random(seed)
        self.done: list[Revocation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._act, daemon=True)

    def __enter__(self) -> People:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _act(self) -> None:
        while not self._stop.wait(self.rng.uniform(0.1, 0.5)):
            system = self.rng.choice(["salesforce", "hubspot"])
            email = self.rng.choice(self.emails[system])
            act = revocation_for(self.rng, system, email)
            with self.harness.control(system) as client:
                response = client.post("/_sandbox/act", json=act.body)
            if response.status_code == 200:  # a Lead's email is not a Contact's: skipped
                self.done.append(Revocation(system, email, act.purpose))


def test_kill_9_at_random_moments_keeps_i1_to_i4(harness: Harness) -> None:
    """20 kill -9s across backfill and propagation: ledger verifies, every revocation holds
    in the store and both CRMs, and both CRMs hold the canonical value for shared people."""
    rng = random.Random(SEED)
    emails = {
        system: sorted({email for email, _ in statuses(harness, system)})
        for system in ("salesforce", "hubspot")
    }
    kill_moments: list[float] = []
    started = time.monotonic()
    with People(harness, emails, SEED + 1) as people:
        for _ in range(KILLS):
            daemon = harness.daemon()
            # Ready first (start-up time depends on the machine's load, and a kill before the
            # first run tests nothing), then kill at a random moment of work.
            daemon.wait_ready(60)
            time.sleep(rng.uniform(0.2, 2.5))
            assert daemon.process is not None and daemon.process.poll() is None, daemon.tail()
            daemon.kill()
            kill_moments.append(time.monotonic() - started)
    print(
        f"\nkill -9 at {', '.join(f'{t:.1f}' for t in kill_moments)} s; "
        f"{len(people.done)} revocations made"
    )
    quiet_since = datetime.now(UTC)
    final = harness.daemon()
    final.wait_ready()
    with Store.open(harness.database_url) as store:
        cut = [r for r in store.views.recent_runs(None, 10_000) if r.finished_at is None]
        print(f"{len(cut)} runs cut short by a kill")
        assert len(cut) >= KILLS // 4, "most kills should land while a run is under way"
        settled = wait_for(lambda: quiescent(store, quiet_since), 90, "quiescence", every=0.5)
        print(f"quiescent {settled:.1f} s after the last restart")
        check = store.views.verify_ledger()
        assert check.ok, check.problem
        assert check.rows > 0
        truth = canonical(store)
        wrong = mismatches(harness, store)
    assert wrong == []
    held = {system: statuses(harness, system) for system in ("salesforce", "hubspot")}
    for revocation in people.done:
        key = (revocation.email, revocation.purpose)
        assert truth.get(key) is Status.DENIED, revocation
        for system, values in held.items():
            assert values.get(key, {Status.DENIED}) == {Status.DENIED}, (system, revocation)
    assert final.terminate() == 0
