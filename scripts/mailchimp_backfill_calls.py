"""A backfill through the shipped Mailchimp connector, and its API calls against the minimum.

Seeds the sandboxes (Salesforce, HubSpot, Mailchimp, and any other emulator installed) with
`--contacts` people each, runs two cycles of Salesforce, HubSpot and Mailchimp on an empty
SQLite store with the repository's own configuration, and prints what the Mailchimp emulator
counted: listing pages, member reads, batch writes. The minimum is what the API's limits allow
for a backfill: one listing call per 1,000 members (the full read) and one batch per 500
members written; the second round's incremental pull (one call) is counted, not excused.

    .venv/bin/python scripts/mailchimp_backfill_calls.py --contacts 20000
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import tempfile
from pathlib import Path

import httpx

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.runner import start_sandbox

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("mailchimp", "salesforce", "hubspot")
PAGE, BATCH = 1000, 500
ROUNDS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailchimp-backfill-") as work:
        root = Path(work)
        sandbox = start_sandbox(root / "sandbox", contacts=args.contacts, seed=args.seed)
        url = f"sqlite:///{root / 'consent-sync.db'}"
        database = create_store_engine(url)
        upgrade(database)
        database.dispose()
        config = load_config(REPO, env=sandbox.env)
        connectors = {s: build_connector(config.connectors[s], config.mappings[s]) for s in SYSTEMS}
        control = httpx.Client(
            base_url=sandbox.base_url("mailchimp"),
            verify=ssl.create_default_context(cafile=sandbox.env["MAILCHIMP_CA_FILE"]),
            timeout=60,
        )
        written = 0
        try:
            with Store.open(url) as store:
                engine = SyncEngine(store, config, connectors)
                for _ in range(ROUNDS):
                    for system in SYSTEMS:
                        report = engine.cycle(system)
                        if system == "mailchimp":
                            written += report.writes_ok + report.writes_dead
                            written += report.writes_withheld
            stats = control.get("/_sandbox/stats").json()
        finally:
            control.close()
            for connector in connectors.values():
                connector.close()
            sandbox.stop()
    endpoints = {k: sum(v.values()) for k, v in stats["endpoints"].items()}
    minimum = math.ceil(args.contacts / PAGE) + math.ceil(written / BATCH)
    print(json.dumps(endpoints, indent=2))
    print(f"members {args.contacts}, written {written}")
    print(f"calls {stats['total']}, minimum {minimum}, ratio {stats['total'] / minimum:.2f}")


if __name__ == "__main__":
    main()
