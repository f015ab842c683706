"""`consent-sync bench` keeps working: a small run reports every figure it promises."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.paths import CONSENT_SYNC, REPO


def test_bench_reports_every_figure(tmp_path: Path) -> None:
    """Ratios to the bare clients and the call minimum, idle cost, latency and memory, as JSON."""
    done = subprocess.run(
        [
            str(CONSENT_SYNC),
            "bench",
            "--contacts",
            "300",
            "--samples",
            "2",
            "--json",
            "--work-dir",
            str(tmp_path / "bench"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for system in ("salesforce", "hubspot"):
        stats = figures["systems"][system]
        assert stats["records"] >= 300
        assert stats["api_calls"] >= stats["minimum_calls"] > 0
        assert stats["bare_client_seconds"] > 0
    assert figures["idle_cycle"]["writes"] == 0
    assert figures["propagation_seconds"]["samples"] == 2
    assert figures["peak_rss_mib"] > 0
