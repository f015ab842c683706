"""Latency of `POST /api/v1/consents` under concurrent clients, against a real daemon.

Starts both sandboxes (seeded), a fresh store (a SQLite file, or a new PostgreSQL database with
--postgres), a write token, and `consent-sync run` on a free loopback port; then N clients
(default 50) each send decisions back to back for D seconds (default 60): phone_calls granted
or denied, with evidence, for one of 5,000 synthetic people (so some are new subjects, some a
change, some no change). Prints p50/p90/p99/max latency, throughput and the status counts.
Clients and the daemon share this machine's cores, so the figures include the clients' cost.

Usage: .venv/bin/python scripts/bench_api.py [--clients 50] [--seconds 60] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from consent_sync.store import Scope, Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync_sandbox.runner import start_sandbox

REPO = Path(__file__).resolve().parents[1]
CONSENT_SYNC = Path(sys.executable).parent / "consent-sync"
PG = "postgres@127.0.0.1:5432"
PEOPLE = 5000


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrated(url: str) -> str:
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


async def client(
    base: str, token: str, deadline: float, seed: int, latencies: list[float], codes: Counter[int]
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        while time.monotonic() < deadline:
            status = rng.choice(["granted", "denied"])
            body = {
                "email": f"bench-{rng.randrange(PEOPLE)}@example.com",
                "purpose": "phone_calls",
                "status": status,
                "evidence": {"collection_method": "preference_centre", "actor": "subject"},
            }
            key = {"Idempotency-Key": uuid.uuid4().hex} if rng.random() < 0.5 else {}
            started = time.perf_counter()
            response = await http.post("/api/v1/consents", json=body, headers=key)
            latencies.append(time.perf_counter() - started)
            codes[response.status_code] += 1


async def load(
    base: str, token: str, clients: int, seconds: float
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(client(base, token, deadline, i, latencies, codes) for i in range(clients))
    )
    return latencies, codes


def settled(base: str, token: str, timeout: float = 300) -> None:
    """Wait until both systems' backfill is pulled and pushed, so the load meets a quiet daemon."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        systems = httpx.get(f"{base}/api/v1/systems", headers=headers, timeout=10).json()["items"]
        if systems and all("pull" in s["last_runs"] and s["outbox_pending"] == 0 for s in systems):
            return
        time.sleep(0.5)
    raise SystemExit("the daemon did not settle after its backfill")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--contacts", type=int, default=500, help="seeded per sandbox")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-api-") as work:
        sandbox = start_sandbox(Path(work) / "sandbox", contacts=args.contacts, seed=1)
        pg_name = None
        if args.postgres:
            pg_name = f"bench_api_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
            url = migrated(f"postgresql+psycopg://{PG}/{pg_name}")
        else:
            url = migrated(f"sqlite:///{Path(work) / 'consent-sync.db'}")
        with Store.open(url) as store:
            token = store.tokens.create("bench", Scope.WRITE, datetime.now(UTC))
        port = free_port()
        env = {
            **os.environ,
            **sandbox.env,
            "CONSENT_SYNC_CONFIG": str(REPO),
            "CONSENT_SYNC_DATABASE_URL": url,
        }
        log = (Path(work) / "daemon.log").open("wb")
        daemon = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(CONSENT_SYNC), "run", "--port", str(port), "--log-level", "WARNING"],
            env=env,
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("the daemon did not become ready")
            settled(base, token)
            latencies, codes = asyncio.run(load(base, token, args.clients, args.seconds))
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
            log.close()
            sandbox.stop()
            if pg_name is not None:
                with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as admin:
                    admin.execute(
                        sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(pg_name))
                    )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    ms = [v * 1000 for v in latencies]
    print(
        f"POST /api/v1/consents on {backend}: {args.clients} clients for {args.seconds:.0f} s, "
        f"{len(ms)} requests ({len(ms) / args.seconds:.0f}/s)"
    )
    print(
        f"  latency ms: p50 {percentile(ms, 0.5):.1f}  p90 {percentile(ms, 0.9):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )
    print(f"  statuses: {dict(sorted(codes.items()))}")


if __name__ == "__main__":
    main()
