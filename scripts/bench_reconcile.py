"""Throughput of the pure reconciliation rule: observations per second on this machine.

Usage: .venv/bin/python scripts/bench_reconcile.py [N]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta

from consent_sync.domain.model import (
    Canonical,
    Evidence,
    LinkKey,
    Observation,
    Policy,
    Purpose,
    Shadow,
    Status,
    TimeKind,
)
from consent_sync.domain.reconcile import reconcile


def main(n: int) -> None:
    rng = random.Random(7)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = [Status.GRANTED, Status.DENIED, Status.UNKNOWN]
    purposes = [Purpose("email_marketing"), Purpose("sms", policy=Policy.LAST_WRITER_WINS)]
    work = []
    for i in range(n):
        purpose = purposes[i % 2]
        batch = []
        for system in ("salesforce", "hubspot")[: rng.randint(1, 2)]:
            status = rng.choice(statuses)
            o = Observation(
                system,
                LinkKey(system, "Contact", f"r{i}"),
                purpose.name,
                status,
                t0 + timedelta(seconds=rng.randint(0, 10_000)),
                TimeKind.RECORD_MODIFIED,
                Evidence(system),
            )
            batch.append((o, Shadow(last_seen=rng.choice([None, *statuses]))))
        c = rng.choice([Canonical(), Canonical(rng.choice(statuses[:2]), t0, "hubspot")])
        work.append((purpose, c, batch))
    observations = sum(len(b) for _, _, b in work)
    start = time.perf_counter()
    for purpose, c, batch in work:
        reconcile(purpose, c, batch)
    elapsed = time.perf_counter() - start
    print(f"{observations} observations in {elapsed:.3f} s: {observations / elapsed:,.0f} obs/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
