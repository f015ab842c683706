"""`consent-sync validate`: exit 0 with a summary, or exit 2 with every error as file:line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from consent_sync.cli import app
from support.config_files import MakeConfig
from support.paths import CONSENT_SYNC, REPO

BROKEN = {
    "mappings/purposes.yaml": "purposes:\n  email_marketing:\n    title: T\n    channel: fax2\n"
}


def test_valid_config_exits_zero_with_a_summary() -> None:
    """The repository's config passes: exit 0, a summary of purposes, systems and fields."""
    result = CliRunner().invoke(app, ["validate", "--config", str(REPO)], env={})
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.stdout
    assert (
        "systems: 4 (dynamics (declarative), hubspot (hubspot), mailchimp (declarative), "
        "salesforce (salesforce))"
    ) in result.stdout
    assert "mapped fields: 19 on 7 objects" in result.stdout


def test_invalid_config_exits_two_with_file_line_errors(make_config: MakeConfig) -> None:
    """Every error goes to stderr as `file:line: message`; the exit code is 2."""
    root = make_config(BROKEN)
    result = CliRunner().invoke(app, ["validate", "--config", str(root)])
    assert result.exit_code == 2
    assert f"{root}/mappings/purposes.yaml:4: channel must be one of" in result.stderr
    assert result.stderr.rstrip().endswith(f"1 error in {root}")
    assert result.stdout == ""


def test_config_directory_from_the_environment(make_config: MakeConfig) -> None:
    """Without --config, CONSENT_SYNC_CONFIG names the directory."""
    root = make_config(BROKEN)
    result = CliRunner().invoke(app, ["validate"], env={"CONSENT_SYNC_CONFIG": str(root)})
    assert result.exit_code == 2
    assert "purposes.yaml:4:" in result.stderr


def test_unset_variables_are_warnings_offline(make_config: MakeConfig) -> None:
    """Offline validation passes with references unresolved and says which variables are unset."""
    result = CliRunner().invoke(app, ["validate", "--config", str(make_config())], env={})
    assert result.exit_code == 0
    assert "crm.yaml:5: warning: environment variable SF_SECRET is not set" in result.stderr


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CONSENT_SYNC_CONFIG"}
    return subprocess.run(
        [str(CONSENT_SYNC), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_console_script_exit_codes(make_config: MakeConfig, tmp_path: Path) -> None:
    """As a real process: 0 for the repository config (from its directory), 2 for a broken one."""
    ok = _run("validate", cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "configuration OK: ." in ok.stdout
    broken = _run("validate", "--config", str(make_config(BROKEN)), cwd=tmp_path)
    assert broken.returncode == 2
    assert "mappings/purposes.yaml:4: channel must be one of" in broken.stderr
    assert "Traceback" not in broken.stderr
