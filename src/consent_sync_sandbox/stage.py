"""The stage the demo and the bench play on: both CRM sandboxes, the repository's config, their
connectors, a fresh SQLite store and a sync engine, with the sandbox controls both drive.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.hubspot.props import MARKETING_SUBSCRIPTION_ID
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from consent_sync_sandbox.seed import iter_people

SYSTEMS = ("salesforce", "hubspot")
SEED = 2026  # of the people both sandboxes hold
OVERLAP = 0.8  # share of them held by both CRMs


@dataclass
class Stage:
    """Everything `staged` started, and the sandbox controls that act as a person would."""

    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine
    contacts: int

    def control(self, system: str, *, timeout: float = 30.0) -> httpx.Client:
        """A client for one sandbox's HTTPS API, trusting the sandbox CA."""
        trust = ssl.create_default_context(cafile=str(self.sandbox.tls.ca_pem))
        return httpx.Client(base_url=self.sandbox.base_url(system), verify=trust, timeout=timeout)

    def salesforce_opted_out(self, email: str) -> bool:
        """Every live Salesforce record of `email` has Email Opt Out ticked."""
        with self.control("salesforce") as sf:
            records: list[dict[str, Any]] = sf.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        live = [r for r in records if not r.get("IsDeleted")]
        return bool(live) and all(r["HasOptedOutOfEmail"] is True for r in live)

    def unsubscribe_in_hubspot(self, email: str) -> None:
        """`email` clicks "unsubscribe" in a HubSpot marketing email footer."""
        with self.control("hubspot") as hs:
            hs.post(
                "/_sandbox/act",
                json={
                    "action": "unsubscribe",
                    "email": email,
                    "subscription_id": MARKETING_SUBSCRIPTION_ID,
                },
            ).raise_for_status()

    def shared_agreeing_emails(self) -> Iterator[str]:
        """Emails of the people both CRMs hold with a usable address and the same consent."""
        for person in iter_people("salesforce", self.contacts, SEED, OVERLAP):
            if person.shared and person.email_ok and not person.disagrees:
                yield person.email


@contextmanager
def staged(
    work_dir: Path, contacts: int, config_dir: Path, *, rate: float | None = None
) -> Iterator[Stage]:
    """Sandboxes, config, connectors, a fresh SQLite store and an engine; all torn down after.

    `rate` overrides every connector's client-side request budget (the benchmark measures the
    software, not the quota; it lifts the sandboxes' limits to match).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    db = work_dir / "consent-sync.db"
    for stale in work_dir.glob("consent-sync.db*"):
        stale.unlink()
    sandbox = start_sandbox(work_dir / "sandbox", contacts=contacts, seed=SEED, overlap=OVERLAP)
    connectors: dict[str, Connector] = {}
    try:
        database = create_store_engine(f"sqlite:///{db}")
        upgrade(database)
        database.dispose()
        config = load_config(config_dir, env=sandbox.env)
        for name in SYSTEMS:
            settings = config.connectors[name]
            if rate is not None:
                limits = settings.limits.model_copy(update={"requests_per_second": rate})
                settings = settings.model_copy(update={"limits": limits})
            connectors[name] = build_connector(settings, config.mappings[name])
        with Store.open(f"sqlite:///{db}") as store:
            engine = SyncEngine(store, config, connectors)
            yield Stage(sandbox, config, connectors, store, engine, contacts)
    finally:
        for connector in connectors.values():
            connector.close()
        sandbox.stop()
