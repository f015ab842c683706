"""The installed `consent-sync` script, run as a process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("consent-sync")


def _run(args: list[str], cwd: Path, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_SYNC_")}
    env["CONSENT_SYNC_CONFIG"] = str(REPO)
    if url is not None:
        env["CONSENT_SYNC_DATABASE_URL"] = url
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_script_upgrades_records_and_verifies(db_url: str, tmp_path: Path) -> None:
    """`db upgrade`, `consent record` and `ledger verify` work as processes on each backend."""
    assert _run(["ledger", "verify"], tmp_path, db_url).returncode == 2
    assert _run(["db", "upgrade"], tmp_path, db_url).returncode == 0
    recorded = _run(
        ["consent", "record", "ada@example.com", "sms_marketing", "denied", "--source", "ops"],
        tmp_path,
        db_url,
    )
    assert recorded.returncode == 0, recorded.stderr
    verified = _run(["ledger", "verify"], tmp_path, db_url)
    assert (verified.returncode, verified.stdout.strip()) == (0, "ledger OK: 1 row(s) verified")


def test_default_database_is_consent_sync_db_in_the_working_directory(tmp_path: Path) -> None:
    """Without CONSENT_SYNC_DATABASE_URL the store is the SQLite file ./consent-sync.db."""
    result = _run(["db", "upgrade"], tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "consent-sync.db").is_file()
    assert "sqlite:///consent-sync.db" in result.stdout
