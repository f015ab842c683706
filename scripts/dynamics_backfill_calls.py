"""A backfill through the shipped Dynamics 365 connector, and its API calls against the minimum.

Seeds the sandboxes (every emulator installed) with `--contacts` people each, runs two rounds
of Dynamics, Salesforce, HubSpot and Mailchimp on an empty SQLite store with the repository's
own configuration, and prints what the Dataverse emulator counted and what the connector spent
pulling, reading back and writing. The minimum is what the Web API's limits allow for a
backfill: one tracked page per 5,000 contacts (the full read), one delta for the second pull,
and one `$batch` per 1,000 contacts written. Token requests (one per hour of work) are shown
but not counted: they go to Entra ID, not to Dataverse.

    .venv/bin/python scripts/dynamics_backfill_calls.py --contacts 20000
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.domain.records import FieldWrite, Page, Record, WriteResult
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.runner import start_sandbox

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("dynamics", "salesforce", "hubspot", "mailchimp")
PAGE, BATCH = 5000, 1000
ROUNDS = 2
TOKEN_ENDPOINT = "POST /{tenant}/oauth2/v2.0/token"  # noqa: S105 - a stats key, not a secret


class Metered:
    """The Dynamics connector, with its API calls split by what the engine asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.spent: Counter[str] = Counter()

    @property
    def api_calls(self) -> int:
        return int(self.inner.api_calls)

    def _pages(self, kind: str, pages: Iterator[Page]) -> Iterator[Page]:
        before = self.inner.api_calls
        try:
            yield from pages
        finally:
            self.spent[kind] += self.inner.api_calls - before

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        return self._pages("pull", self.inner.pull(object_type, since))

    def pull_resuming(
        self, object_type: str, since: datetime | None, resume: str
    ) -> Iterator[Page]:
        return self._pages("pull", self.inner.pull_resuming(object_type, since, resume))

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        before = self.inner.api_calls
        records: list[Record] = self.inner.read(object_type, record_ids)
        self.spent["read_back"] += self.inner.api_calls - before
        return records

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        before = self.inner.api_calls
        results: list[WriteResult] = self.inner.write(object_type, writes)
        self.spent["write"] += self.inner.api_calls - before
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dynamics-backfill-") as work:
        root = Path(work)
        sandbox = start_sandbox(root / "sandbox", contacts=args.contacts, seed=args.seed)
        url = f"sqlite:///{root / 'consent-sync.db'}"
        database = create_store_engine(url)
        upgrade(database)
        database.dispose()
        config = load_config(REPO, env=sandbox.env)
        connectors: dict[str, Any] = {
            s: build_connector(config.connectors[s], config.mappings[s]) for s in SYSTEMS
        }
        metered = connectors["dynamics"] = Metered(connectors["dynamics"])
        control = httpx.Client(
            base_url=sandbox.base_url("dynamics"),
            verify=ssl.create_default_context(cafile=sandbox.env["DYNAMICS_CA_FILE"]),
            timeout=60,
        )
        written = 0
        try:
            control.delete("/_sandbox/stats")
            with Store.open(url) as store:
                engine = SyncEngine(store, config, connectors)
                for _ in range(ROUNDS):
                    for system in SYSTEMS:
                        report = engine.cycle(system)
                        if system == "dynamics":
                            written += report.writes_ok + report.writes_retry + report.writes_dead
            stats = control.get("/_sandbox/stats").json()
        finally:
            control.close()
            for connector in connectors.values():
                connector.close()
            sandbox.stop()
    endpoints = {k: sum(v.values()) for k, v in stats["endpoints"].items()}
    tokens = endpoints.get(TOKEN_ENDPOINT, 0)
    calls = int(stats["total"]) - tokens
    minimum = math.ceil(args.contacts / PAGE) + 1 + math.ceil(written / BATCH)
    print(json.dumps(endpoints, indent=2))
    print(f"connector calls by purpose: {dict(metered.spent)}")
    print(f"contacts {args.contacts}, written {written}, token requests {tokens} (not counted)")
    print(f"calls {calls}, minimum {minimum}, ratio {calls / minimum:.2f}")


if __name__ == "__main__":
    main()
