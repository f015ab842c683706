"""`consent-sync demo`: the README's first command plays the whole scenario and exits 0."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from support.paths import CONSENT_SYNC, REPO


def test_demo_plays_the_revocation_scenario(tmp_path: Path) -> None:
    """Backfill, a HubSpot unsubscribe reaching Salesforce, a blocked re-grant, a clean ledger."""
    done = subprocess.run(
        [
            str(CONSENT_SYNC),
            "demo",
            "--contacts",
            "300",
            "--work-dir",
            str(tmp_path / "demo"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"revocation HubSpot -> Salesforce: \d+\.\d+ s", out)
    assert '"kind": "grant_blocked"' in out
    assert "denial pushed back: yes" in out
    assert "ledger: verified" in out
    assert "email_marketing  denied" in out  # subject show: the person's current state
