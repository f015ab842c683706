"""What the benchmark's scenarios share: its options, its figures so far, freshly seeded
sandboxes, and the engine's child process (`bench_child`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from consent_sync_sandbox.bench_report import Figure
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox

SEED, OVERLAP = 2026, 0.8  # the people both sandboxes hold (as the demo's stage)
SYSTEMS = ("salesforce", "hubspot")
UNTHROTTLED = 10_000.0  # requests per second: no client-side budget to speak of
Say = Callable[[str], None]


@dataclass
class Options:
    """What `consent-sync bench` was asked to measure."""

    work_dir: Path
    config_dir: Path
    contacts: int = 100_000
    fault_contacts: int = 20_000
    samples: int = 200
    idle_cycles: int = 20
    poll_interval: float = 1.0
    reconcile_observations: int = 100_000
    postgres: bool = True
    quick: bool = False
    baseline: Path | None = None  # an earlier bench-results.json, for the 100k -> 1M ratio


@dataclass
class Bench:
    options: Options
    say: Say
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)


def bench_config(source: Path, work: Path) -> Path:
    """The configuration the benchmark runs: `source`'s purposes and the connectors and mappings
    of the two measured systems only (`SYSTEMS`).

    Every other configured system (the shipped Mailchimp and Dynamics 365) is left out, so none
    backfills from scratch beside the measured ones: in the propagation scenario's daemon that
    backfill held the store's one writer for minutes, and acts took 20 s and more to arrive.
    """
    target = work / "config"
    shutil.rmtree(target, ignore_errors=True)
    for sub in ("connectors", "mappings"):
        (target / sub).mkdir(parents=True)
    shutil.copyfile(source / "mappings" / "purposes.yaml", target / "mappings" / "purposes.yaml")
    for name in SYSTEMS:
        for sub in ("connectors", "mappings"):
            shutil.copyfile(source / sub / f"{name}.yaml", target / sub / f"{name}.yaml")
    return target


@contextmanager
def sandbox(work: Path, contacts: int) -> Iterator[RunningSandbox]:
    """Freshly seeded sandboxes of the measured systems, with HubSpot's quotas lifted (the
    figures are the software's)."""
    running = start_sandbox(
        work / "sandbox", contacts=contacts, seed=SEED, overlap=OVERLAP, only=SYSTEMS
    )
    try:
        with control(running, "hubspot") as hs:
            limits = {"max_per_interval": 10**9, "search_per_second": 10**6, "daily": 10**9}
            hs.put("/_sandbox/limits", json=limits).raise_for_status()
        yield running
    finally:
        running.stop()


def control(running: RunningSandbox, system: str) -> httpx.Client:
    return httpx.Client(
        base_url=running.base_url(system), verify=str(running.tls.ca_pem), timeout=120
    )


def run_child(bench: Bench, running: RunningSandbox, url: str, label: str, idle: int) -> Any:
    """The backfill (and `idle` idle cycles) in a process of its own; its JSON report."""
    work = bench.options.work_dir / label
    spec = {
        "database_url": url,
        "config_dir": str(bench.options.config_dir),
        "env": running.env,
        "rate": UNTHROTTLED,
        "control_urls": {name: running.base_url(name) for name in SYSTEMS},
        "ca_file": str(running.tls.ca_pem),
        "idle_cycles": idle,
    }
    spec_file = work / "child.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    spec_file.chmod(0o600)  # it holds the sandbox's secrets
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "consent_sync_sandbox.bench_child", str(spec_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    (work / "child.log").write_text(done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"the {label} backfill failed; see {work / 'child.log'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def attempt(bench: Bench, scenario: str, run: Callable[[], None]) -> None:
    """Run one scenario; a failure is reported as its figure, and the other scenarios go on."""
    try:
        run()
    except Exception as exc:  # any failure: the run's other figures still count
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        bench.say(f"{scenario} failed: {message}")
        bench.details.setdefault("errors", {})[scenario] = message
        bench.add(Figure(scenario, "failed", None, note=message[:120]))
