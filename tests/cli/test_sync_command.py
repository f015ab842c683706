"""`consent-sync sync` as an operator runs it: against both sandboxes, with the shipped config."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from consent_sync_sandbox.runner import RunningSandbox
from support.paths import CONSENT_SYNC, REPO

CONTACTS = 600
SANDBOX_SEED = 3


def _sync(sandbox: RunningSandbox, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sandbox.env, "CONSENT_SYNC_DATABASE_URL": database}
    env["CONSENT_SYNC_CONFIG"] = str(REPO)
    return subprocess.run(
        [CONSENT_SYNC, "sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _written(out: str, system: str) -> int:
    match = re.search(rf"^(?:\[dry run\] )?{system}: .* (\d+) written,", out, re.M)
    assert match, out
    return int(match.group(1))


def test_one_sync_converges_and_the_next_writes_nothing(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """The first sync pulls both CRMs, then pushes to both; a second sync writes nothing."""
    database = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "CONSENT_SYNC_DATABASE_URL": database}
    subprocess.run([CONSENT_SYNC, "db", "upgrade"], env=env, check=True, capture_output=True)
    first = _sync(sandbox, database)
    assert first.returncode == 0, first.stderr
    assert _written(first.stdout, "salesforce") + _written(first.stdout, "hubspot") > 0
    second = _sync(sandbox, database)
    assert second.returncode == 0, second.stderr
    assert _written(second.stdout, "salesforce") == 0
    assert _written(second.stdout, "hubspot") == 0
    assert " 0 decisions" in second.stdout


def test_dry_run_writes_nothing_anywhere(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """--dry-run reports decisions but leaves the store and both CRMs untouched."""
    database = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "CONSENT_SYNC_DATABASE_URL": database}
    subprocess.run([CONSENT_SYNC, "db", "upgrade"], env=env, check=True, capture_output=True)
    dry = _sync(sandbox, database, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "[dry run] salesforce:" in dry.stdout
    assert re.search(r"\[dry run\] salesforce: \d+ records read, [1-9]\d* decisions", dry.stdout)
    ledger = subprocess.run(
        [CONSENT_SYNC, "ledger", "verify"], env=env, capture_output=True, text=True, check=False
    )
    assert ledger.returncode == 0
    assert "0 row(s) verified" in ledger.stdout


def test_unknown_system_is_a_usage_error(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """Naming a system that has no connector file exits 2 and lists the known ones."""
    done = _sync(sandbox, f"sqlite:///{tmp_path / 'store.db'}", "--system", "marketo")
    assert done.returncode == 2
    assert "unknown system(s): marketo" in done.stderr


def test_a_crm_error_quoting_an_email_is_redacted_on_the_failed_line(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Salesforce refusing with a 400 whose body names a person: the `failed:` line hides it."""
    from support.sandboxes import sandbox_control

    database = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "CONSENT_SYNC_DATABASE_URL": database}
    subprocess.run([CONSENT_SYNC, "db", "upgrade"], env=env, check=True, capture_output=True)
    refusal = {
        "path": "/query",
        "status": 400,
        "body": [{"message": "bad value for jane.roe@example.com", "errorCode": "MALFORMED_QUERY"}],
    }
    with sandbox_control(sandbox, "salesforce") as salesforce:
        salesforce.put("/_sandbox/faults", json={"rules": [refusal]}).raise_for_status()
        try:
            done = _sync(sandbox, database, "--system", "salesforce")
        finally:
            salesforce.put("/_sandbox/faults", json={}).raise_for_status()
    assert done.returncode == 1
    failed = [line for line in done.stderr.splitlines() if line.startswith("salesforce: failed:")]
    assert failed, done.stderr
    assert "MALFORMED_QUERY bad value for" in failed[0]  # the reason stays readable
    assert "jane.roe@example.com" not in done.stderr + done.stdout, failed
