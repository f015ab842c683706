"""The benchmark's engine process: a backfill (and idle cycles) in a process of its own.

`consent-sync bench` runs `python -m consent_sync_sandbox.bench_child SPEC.json` so the peak RSS
it reports is the engine's alone, not the sandboxes' (they serve from the parent). The child
drives the real `SyncEngine` over the real connectors, as the daemon's jobs do, and prints one
JSON line: per system the backfill's time, records, writes and the sandbox's request counts, the
idle cycles' writes and read calls, and its own peak RSS.
"""

from __future__ import annotations

import json
import resource
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync.engine import SyncEngine
from consent_sync.sync.report import CycleReport

SYSTEMS = ("salesforce", "hubspot")
MAX_ROUNDS = 8  # backfill rounds (a pull and a push per system) before giving up on quiet
WRITE_WORDS = ("update", "write", "upsert", "create", "archive", "composite", "delete")


def classify(snapshot: dict[str, Any]) -> dict[str, int]:
    """A sandbox's `/_sandbox/stats` split into read, write and auth calls."""
    out = {"read": 0, "write": 0, "auth": 0}
    for endpoint, statuses in snapshot.get("endpoints", {}).items():
        count = sum(statuses.values())
        method, _, path = endpoint.partition(" ")
        lowered = path.lower()
        if "oauth2" in lowered or "token" in lowered:
            out["auth"] += count
        elif lowered.endswith("/composite"):  # the connector sends only queries through it
            out["read"] += count
        elif method in {"PATCH", "PUT", "DELETE"} or any(w in lowered for w in WRITE_WORDS):
            out["write"] += count
        else:
            out["read"] += count
    return out


class Meter:
    """The sandboxes' request counters, read and reset over their control endpoints."""

    def __init__(self, urls: dict[str, str], ca_file: str) -> None:
        trust = ssl.create_default_context(cafile=ca_file)
        self.clients = {
            name: httpx.Client(base_url=url, verify=trust, timeout=120)
            for name, url in urls.items()
        }

    def reset(self, system: str) -> None:
        self.clients[system].delete("/_sandbox/stats").raise_for_status()

    def snapshot(self, system: str) -> dict[str, Any]:
        response = self.clients[system].get("/_sandbox/stats")
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        return snapshot

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _quiet(report: CycleReport) -> bool:
    return report.decisions == 0 and report.writes_ok == 0 and report.queued == 0


def backfill(engine: SyncEngine, meter: Meter) -> dict[str, Any]:
    """Cycle both systems until a round decides and writes nothing; per-system totals."""
    for name in SYSTEMS:
        meter.reset(name)
    reports: dict[str, list[CycleReport]] = {name: [] for name in SYSTEMS}
    started = time.monotonic()
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - reported below
        quiet = True
        for name in SYSTEMS:
            try:
                report = engine.cycle(name)
            except Exception as exc:  # a cycle that gave up (retries spent): the next round retries
                report = CycleReport(name, error=f"{type(exc).__name__}: {exc}"[:300])
            reports[name].append(report)
            quiet = quiet and _quiet(report) and report.error is None
        if quiet:
            break
    wall = time.monotonic() - started
    systems: dict[str, Any] = {}
    for name in SYSTEMS:
        runs = reports[name]
        snapshot = meter.snapshot(name)
        systems[name] = {
            "records": max(r.records_read for r in runs),
            "seconds": sum(r.duration_s for r in runs),
            "writes": sum(r.writes_ok for r in runs),
            "writes_dead": sum(r.writes_dead for r in runs),
            "decisions": sum(r.decisions for r in runs),
            "errors": [r.error for r in runs if r.error],
            "calls": snapshot["total"],
            "calls_by_kind": classify(snapshot),
            "endpoints": snapshot["endpoints"],
        }
    return {"wall_seconds": wall, "rounds": rounds, "systems": systems}


def idle(engine: SyncEngine, meter: Meter, cycles: int, objects: dict[str, int]) -> dict[str, Any]:
    """`cycles` cycles per system with nothing changed: writes and read calls per object."""
    out: dict[str, Any] = {}
    for name in SYSTEMS:
        writes = 0
        reads: list[float] = []
        for _ in range(cycles):
            meter.reset(name)
            report = engine.cycle(name)
            writes += report.writes_ok + report.queued + report.writes_retry
            reads.append(classify(meter.snapshot(name))["read"] / max(1, objects[name]))
        out[name] = {
            "cycles": cycles,
            "writes": writes,
            "objects": objects[name],
            "read_calls_per_object_max": max(reads) if reads else 0.0,
            "read_calls_per_object_mean": sum(reads) / len(reads) if reads else 0.0,
        }
    return out


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Upgrade the store, build the connectors with `spec`'s budget, backfill, then idle."""
    database = create_store_engine(spec["database_url"])
    upgrade(database)
    database.dispose()
    config = load_config(Path(spec["config_dir"]), env=spec["env"])
    connectors: dict[str, Connector] = {}
    meter = Meter(spec["control_urls"], spec["ca_file"])
    try:
        for name in SYSTEMS:
            settings = config.connectors[name]
            limits = settings.limits.model_copy(update={"requests_per_second": spec["rate"]})
            settings = settings.model_copy(update={"limits": limits})
            connectors[name] = build_connector(settings, config.mappings[name])
        objects = {name: len(config.mappings[name].objects) for name in SYSTEMS}
        with Store.open(spec["database_url"]) as store:
            engine = SyncEngine(store, config, connectors)
            result = backfill(engine, meter)
            if spec.get("idle_cycles"):
                result["idle"] = idle(engine, meter, int(spec["idle_cycles"]), objects)
    finally:
        meter.close()
        for connector in connectors.values():
            connector.close()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print(json.dumps(run(spec)))


if __name__ == "__main__":
    main()
