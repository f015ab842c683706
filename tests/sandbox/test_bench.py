"""`consent-sync bench --quick` keeps working: every scenario reports figures with their targets,
an idle cycle writes nothing, and a backfill under injected 429s and 5xx loses nothing.

A smoke test of correctness only: no figure's value is asserted against its target, since times
depend on the machine (the targets are the benchmark's business, docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from support.paths import CONSENT_SYNC, REPO

SCENARIOS = {
    "backfill_sqlite",
    "idle",
    "propagation_webhook",
    "propagation_poll",
    "reconcile",
    "faults",
    "cli_startup",
}


def _figures(results: dict[str, Any], scenario: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in results["figures"] if f["scenario"] == scenario}


def test_quick_bench_reports_every_scenario_and_loses_nothing(tmp_path: Path) -> None:
    """The JSON names the machine and parameters; each scenario has figures, targets and flags."""
    output = tmp_path / "results" / "bench-results.json"
    done = subprocess.run(
        [
            str(CONSENT_SYNC),
            "bench",
            "--quick",
            "--output",
            str(output),
            "--work-dir",
            str(tmp_path / "bench"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text(encoding="utf-8"))
    assert results["parameters"]["quick"] is True
    assert results["parameters"]["postgres"] is False
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["libraries"]["sqlalchemy"]
    assert set(results["scenarios"]) >= SCENARIOS
    for scenario in SCENARIOS:
        figures = _figures(results, scenario)
        assert figures, scenario
        assert all(f["value"] is not None for f in figures.values()), figures
        assert all(isinstance(f["met"], bool) for f in figures.values() if f["target"]), figures
    for scenario in SCENARIOS - {"reconcile"}:  # the reconcile core is context, no target
        assert any(f["target"] for f in _figures(results, scenario).values()), scenario
    # Every figure is in the printed table too.
    assert "| backfill_sqlite | salesforce ceiling ratio" in done.stdout

    backfill = _figures(results, "backfill_sqlite")
    for system in ("salesforce", "hubspot"):
        assert backfill[f"{system} ceiling ratio"]["value"] > 0
        details = results["details"]["backfill_sqlite"]["systems"][system]
        assert details["records"] >= 300
        assert details["calls"] >= details["minimum_calls"] > 0

    idle = _figures(results, "idle")
    assert idle["salesforce writes in 20 cycles"]["value"] == 0
    assert idle["hubspot writes in 20 cycles"]["value"] == 0

    for path in ("webhook", "poll"):
        latency = results["details"][f"propagation_{path}"]
        assert latency["samples"] == 10 and latency["missing"] == 0, latency

    faults = results["details"]["faults_on"]
    assert faults["lost"]["i1_violations"] == 0
    assert faults["lost"]["i2_violations"] == 0
    assert faults["lost"]["store_denied"] > 0  # the check looked at something
    assert _figures(results, "faults")["differences from the fault-free run"]["value"] == 0
    injected = results["details"]["faults_on"]["injected_errors"]
    assert sum(n for system in injected.values() for n in system.values()) > 0  # faults did hit

    startup = results["details"]["cli_startup"]
    assert {run["exit_code"] for run in startup.values()} == {0}
