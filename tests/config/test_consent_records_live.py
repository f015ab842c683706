"""`consent-sync validate --live` on consent-records objects: the DataUsePurposes they name must
exist in the org and be active, their channels be ContactPointType options."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from consent_sync.cli import app
from consent_sync_sandbox.runner import RunningSandbox
from support.paths import REPO

CONTACTS = 5


def _config(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    config = tmp_path / "config"
    shutil.copytree(REPO / "connectors", config / "connectors")
    shutil.copytree(REPO / "mappings", config / "mappings")
    mapping = config / "mappings" / "salesforce.yaml"
    text = mapping.read_text()
    assert old in text
    mapping.write_text(text.replace(old, new, 1))
    return config, mapping


def _line(path: Path, fragment: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if fragment in text)


def test_a_purpose_the_org_lacks_or_has_retired_is_reported_at_its_entry(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """An unknown name and an inactive one (the seed's Partner Offers) each fail at their line;
    the shipped names pass."""
    config, mapping = _config(
        tmp_path,
        "{data_use_purpose: SMS Marketing, contact_point_type: Phone, purpose: sms_marketing}",
        "{data_use_purpose: Partner Offers, contact_point_type: Phone, purpose: sms_marketing}\n"
        "      - {data_use_purpose: Newsletter, contact_point_type: Email, purpose: fax}",
    )
    result = CliRunner().invoke(
        app, ["validate", "--live", "--config", str(config)], env=dict(sandbox.env)
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if ".yaml:" in line]
    assert errors == [
        f"{mapping}:{_line(mapping, 'Partner Offers')}: DataUsePurpose 'Partner Offers' is not "
        "active in the org",
        f"{mapping}:{_line(mapping, 'Newsletter')}: DataUsePurpose 'Newsletter' does not exist "
        "in the org",
    ]
