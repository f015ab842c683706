"""`consent-sync bench`: the numbers that show it is fast, each as a ratio taken in the same run.

Scenarios (docs/performance.md says what bounds each figure):
1. backfill on SQLite and PostgreSQL, in a child process (`bench_child`) so its peak RSS is the
   engine's alone: time, records/s, ÷ the bare official client paging the same records (the
   ceiling), API calls ÷ the minimum the page and batch sizes allow;
2. idle cycles after the backfill: writes and read calls per mapped object;
3. propagation through a running `consent-sync run`, webhook and poll paths (`bench_live`);
4. the reconcile core: observations/s through the rule, and rule + store commit;
5. the backfill under 10% 429s and 5% 5xx: time ÷ the fault-free run, and nothing lost;
6. CLI start-up: read commands as fresh subprocesses, best of 5.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync_sandbox import bench_data, bench_faults, bench_live, bench_scenarios
from consent_sync_sandbox.bench_report import Figure, machine, median, percentile
from consent_sync_sandbox.bench_stage import (
    OVERLAP,
    SEED,
    SYSTEMS,
    UNTHROTTLED,
    Bench,
    Options,
    Say,
    attempt,
    bench_config,
    control,
    run_child,
    sandbox,
)
from consent_sync_sandbox.runner import RunningSandbox
from consent_sync_sandbox.seed import iter_people

WRITE_BATCH = {"salesforce": 200, "hubspot": 100}  # composite / batch write maxima


def _bare(
    running: RunningSandbox, reads: list[bench_data.SalesforceRead]
) -> dict[str, dict[str, float]]:
    """Seconds and calls of the bare official clients paging the same records."""
    out: dict[str, dict[str, float]] = {}
    readers: dict[str, Callable[[], float]] = {
        "salesforce": lambda: bench_data.bare_salesforce(running.env, reads),
        "hubspot": lambda: bench_data.bare_hubspot(running.env),
    }
    for name, read in readers.items():
        with control(running, name) as client:
            client.delete("/_sandbox/stats").raise_for_status()
            seconds = read()
            calls = int(client.get("/_sandbox/stats").json()["total"])
        out[name] = {"seconds": seconds, "calls": calls}
    return out


def backfill(bench: Bench, label: str, url: str, *, idle: int = 0) -> tuple[Any, RunningSandbox]:
    """Seed, backfill in a child, page with the bare clients; the figures of one database."""
    o = bench.options
    (o.work_dir / label).mkdir(parents=True, exist_ok=True)
    bench.say(f"{label}: {o.contacts:,} contacts per CRM ...")
    with sandbox(o.work_dir / label, o.contacts) as running:
        result = run_child(bench, running, url, label, idle)
        reads = bench_data.salesforce_reads(running.env, o.config_dir)
        bare = _bare(running, reads)
        bulk = any(read.bulk for read in reads)
        result["bare"] = bare
        result["salesforce_bare_method"] = {r.sobject: "bulk2" if r.bulk else "rest" for r in reads}
        for name, figures in result["systems"].items():
            records, seconds = figures["records"], figures["seconds"]
            minimum = bare[name]["calls"] + math.ceil(figures["writes"] / WRITE_BATCH[name])
            figures["minimum_calls"] = minimum
            how = ""
            if name == "salesforce":
                how = "Bulk API 2.0 for " if bulk else "REST query_all"
                how += ", ".join(r.sobject for r in reads if r.bulk)
            bench.add(
                Figure(label, f"{name} backfill time", seconds, "s", note=f"{records:,} records"),
                Figure(label, f"{name} records/s", records / seconds if seconds else None, "/s"),
                Figure(
                    label,
                    f"{name} ceiling ratio",
                    seconds / bare[name]["seconds"],
                    "x",
                    "<=",
                    1.5,
                    1.15,
                    note=f"bare {bare[name]['seconds']:.2f} s{', ' + how if how else ''}",
                ),
                Figure(
                    label,
                    f"{name} API-call ratio",
                    figures["calls"] / minimum if minimum else None,
                    "x",
                    "<=",
                    1.10,
                    1.02,
                    note=f"{figures['calls']}/{minimum}",
                ),
            )
        bench.add(
            Figure(label, "wall time to quiet", result["wall_seconds"], "s"),
            Figure(label, "engine peak RSS", result["peak_rss_mib"], "MiB", "<=", 300),
        )
        if idle:
            _idle_figures(bench, result["idle"])
        bench.details[label] = result
        if label == "backfill_sqlite":
            attempt(bench, "propagation", lambda: _propagation(bench, running, url))
            attempt(bench, "cli_startup", lambda: _startup(bench, running, url))
    return result, running


def _idle_figures(bench: Bench, idle: dict[str, Any]) -> None:
    for name, figures in idle.items():
        bench.add(
            Figure(
                "idle",
                f"{name} writes in {figures['cycles']} cycles",
                figures["writes"],
                "",
                "==",
                0,
            ),
            Figure(
                "idle",
                f"{name} read calls per object per cycle (max)",
                figures["read_calls_per_object_max"],
                "",
                "<=",
                1,
                note=f"{figures['objects']} objects",
            ),
        )


def _propagation(bench: Bench, running: RunningSandbox, url: str) -> None:
    """Propagation through a daemon on the backfilled store, the sandboxes still up."""
    o = bench.options
    live = bench_live.Live(running, o.config_dir, url)
    work = o.work_dir / "backfill_sqlite"
    candidates = (
        p.email
        for p in iter_people("salesforce", o.contacts, SEED, OVERLAP)
        if p.shared and p.email_ok and not p.disagrees
    )
    try:
        bench.say(f"propagation: {o.samples} actions per path ...")
        paths = bench_live.propagation(live, candidates, o.samples, o.poll_interval, work, SEED)
    finally:
        live.close()
    for latencies in paths:
        bound = 1.0 if latencies.path == "webhook" else latencies.interval + 1.0
        scenario = f"propagation_{latencies.path}"
        note = f"pull every {latencies.interval:g} s"
        bench.add(
            Figure(scenario, "p50", median(latencies.seconds), "s", note=note),
            Figure(scenario, "p95", percentile(latencies.seconds, 0.95), "s"),
            Figure(scenario, "p99", percentile(latencies.seconds, 0.99), "s", "<=", bound),
            Figure(scenario, "actions not arrived in 30 s", latencies.missing, "", "==", 0),
        )
        bench.details[scenario] = {
            "interval_s": latencies.interval,
            "samples": len(latencies.seconds),
            "missing": latencies.missing,
            "by_direction": {
                d: {"n": len(v), "p50": median(v), "p99": percentile(v, 0.99)}
                for d, v in latencies.by_direction.items()
            },
        }


def _startup(bench: Bench, running: RunningSandbox, url: str) -> None:
    bench.say("CLI start-up ...")
    live = bench_live.Live(running, bench.options.config_dir, url)
    live.close()  # only its environment is needed
    empty = bench.options.work_dir / "empty.db"
    empty.unlink(missing_ok=True)
    engine = create_store_engine(f"sqlite:///{empty}")
    upgrade(engine)
    engine.dispose()
    empty_env = {**live.env, "CONSENT_SYNC_DATABASE_URL": f"sqlite:///{empty}"}
    tries = 2 if bench.options.quick else 5
    timed = bench_live.startup(
        empty_env,
        {
            "consent-sync --help": ["--help"],
            "subject show --help": ["subject", "show", "--help"],
            "ledger verify (empty store)": ["ledger", "verify"],
        },
        tries,
    )
    someone = next(p.email for p in iter_people("salesforce", 50, SEED, OVERLAP) if p.email_ok)
    on_bench_store = {
        "status (bench store)": ["status"],
        "subject show (bench store)": ["subject", "show", someone],
    }
    timed.update(bench_live.startup(live.env, on_bench_store, tries))
    for name, run in timed.items():
        bench.add(
            Figure(
                "cli_startup", name, run["seconds"], "s", "<=", 0.5, note=f"exit {run['exit_code']}"
            )
        )
    bench.details["cli_startup"] = timed


def _reconcile(bench: Bench, env: dict[str, str]) -> None:
    o = bench.options
    bench.say(f"reconcile core: {o.reconcile_observations:,} observations ...")
    core = bench_scenarios.reconcile_core(o.config_dir, env, o.work_dir, o.reconcile_observations)
    bench.details["reconcile"] = core
    bench.add(
        Figure("reconcile", "rule (domain.reconcile)", core["rule_per_second"], "obs/s"),
        Figure("reconcile", "rule + store commit (SQLite)", core["commit_per_second"], "obs/s"),
    )


def run_bench(options: Options, say: Say) -> dict[str, Any]:
    """Every scenario; the JSON document `bench-results.json` holds."""
    options.work_dir.mkdir(parents=True, exist_ok=True)
    options = replace(options, config_dir=bench_config(options.config_dir, options.work_dir))
    bench = Bench(options, say)
    started = time.monotonic()
    for stale in (options.work_dir / "backfill_sqlite").glob("store.db*"):
        stale.unlink()
    (options.work_dir / "backfill_sqlite").mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite:///{(options.work_dir / 'backfill_sqlite' / 'store.db').resolve()}"
    sqlite, running = backfill(bench, "backfill_sqlite", sqlite_url, idle=options.idle_cycles)
    if options.postgres:
        try:
            with bench_scenarios.postgres_database() as url:
                backfill(bench, "backfill_postgres", url)
        except Exception as exc:  # reported; the other scenarios go on
            bench.details["backfill_postgres"] = {"error": f"{type(exc).__name__}: {exc}"}
            bench.add(Figure("backfill_postgres", "not measured", None, note=str(exc)[:80]))
    attempt(bench, "reconcile", lambda: _reconcile(bench, running.env))
    attempt(bench, "faults", lambda: bench_faults.faults(bench))
    if options.baseline is not None:
        base = json.loads(options.baseline.read_text(encoding="utf-8"))
        scale = options.contacts / base["parameters"]["contacts"]
        ratio = sqlite["wall_seconds"] / base["details"]["backfill_sqlite"]["wall_seconds"]
        bench.add(
            Figure(
                "backfill_sqlite",
                f"time ratio to {base['parameters']['contacts']:,}",
                ratio,
                "x",
                "<=",
                1.1 * scale,
            )
        )
    parameters = {
        "systems": list(SYSTEMS),
        "contacts": options.contacts,
        "fault_contacts": options.fault_contacts,
        "samples": options.samples,
        "idle_cycles": options.idle_cycles,
        "poll_interval_s": options.poll_interval,
        "reconcile_observations": options.reconcile_observations,
        "postgres": options.postgres,
        "quick": options.quick,
        "seed": SEED,
        "overlap": OVERLAP,
        "client_budget_rps": UNTHROTTLED,
    }
    return {
        "machine": machine(),
        "parameters": parameters,
        "seconds": time.monotonic() - started,
        "scenarios": sorted({f.scenario for f in bench.figures}),
        "figures": [f.as_dict() for f in bench.figures],
        "details": bench.details,
        "_figures": bench.figures,
    }
