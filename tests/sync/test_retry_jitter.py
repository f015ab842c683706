"""Retried writes come due spread out: equal jitter over the exponential, capped backoff."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.protocol import TransientError
from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import Evidence, LinkKey, Observation, Status, TimeKind
from consent_sync.domain.records import FieldWrite, WriteResult
from consent_sync.store import Store
from consent_sync.store.tables import OutboxRow
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync.sync.engine import RETRY_BASE, RETRY_CEILING, retry_wait
from support.config_files import OFFLINE_ENV
from support.connectors import StandInConnector
from support.paths import REPO

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PEOPLE = 50


class HubSpotDown(StandInConnector):
    """A HubSpot that answers every write with a 503 (and holds nothing to read back)."""

    def __init__(self) -> None:
        self.writes: list[FieldWrite] = []

    @property
    def api_calls(self) -> int:
        return len(self.writes)

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        self.writes.extend(writes)
        raise TransientError("HTTP 503", system=self.name, object_type=object_type, status=503)


@pytest.fixture
def config() -> DeploymentConfig:
    return load_config(REPO, env=OFFLINE_ENV)


def _revoke_everyone(store: Store, engine: SyncEngine, config: DeploymentConfig) -> None:
    """50 people a HubSpot record shows granted and Salesforce denied: 50 denials for HubSpot."""
    observations, keys = [], {}
    for n in range(PEOPLE):
        sf = LinkKey("salesforce", "Contact", f"003{n:03d}")
        hs = LinkKey("hubspot", "contacts", str(n))
        for link, status in ((sf, Status.DENIED), (hs, Status.GRANTED)):
            observations.append(
                Observation(
                    source=link.system,
                    link=link,
                    purpose="phone_calls",
                    status=status,
                    decided_at=NOW - timedelta(hours=1),
                    time_kind=TimeKind.RECORD_MODIFIED,
                    evidence=Evidence(source=link.system, source_record=str(link)),
                )
            )
            keys[link] = MatchKeys(email=f"person{n}@example.com")
    applied = store.decisions.ingest(observations, keys, config.purposes, NOW, engine.targets)
    assert applied.queued == PEOPLE


def _next_attempts(store: Store) -> list[datetime]:
    with Session(store.engine) as session:
        return [row.next_attempt_at for row in session.exec(select(OutboxRow))]


def test_writes_failing_together_come_due_spread_over_half_to_all_of_their_wait(
    store: Store, config: DeploymentConfig
) -> None:
    """50 writes refused by one outage are retried between 15 s and 30 s later, not all at once."""
    connector = HubSpotDown()
    engine = SyncEngine(
        store, config, {"hubspot": connector}, clock=lambda: NOW, rng=random.Random(7)
    )
    _revoke_everyone(store, engine, config)
    report = CycleReport("hubspot")
    engine.push("hubspot", report)
    assert (len(connector.writes), report.writes_retry) == (PEOPLE, PEOPLE)
    due = _next_attempts(store)
    assert len(due) == PEOPLE
    assert all(NOW + RETRY_BASE / 2 <= at <= NOW + RETRY_BASE for at in due)
    assert len(set(due)) > PEOPLE * 0.9
    assert max(due) - min(due) > RETRY_BASE / 4


@pytest.mark.parametrize("attempts", range(13))
def test_every_wait_lies_between_half_and_all_of_the_capped_backoff(attempts: int) -> None:
    """The wait doubles per attempt up to an hour, and jitter only ever shortens it by half."""
    capped = min(RETRY_CEILING, RETRY_BASE * 2**attempts)
    rng = random.Random(attempts)
    waits = [retry_wait(attempts, rng) for _ in range(200)]
    assert all(capped / 2 <= wait <= capped for wait in waits)
    assert max(waits) - min(waits) > capped / 4


def test_a_seeded_generator_gives_the_same_waits() -> None:
    """The same seed gives the same waits: tests can pin them."""
    first, second = random.Random(3), random.Random(3)
    assert [retry_wait(n, first) for n in range(8)] == [retry_wait(n, second) for n in range(8)]
