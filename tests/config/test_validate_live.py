"""`consent-sync validate --live`: mapped fields checked against the CRMs' describe endpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from consent_sync.cli import app
from consent_sync_sandbox.runner import RunningSandbox
from support.paths import REPO

CONTACTS = 5


def _run(config: Path, sandbox: RunningSandbox) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["validate", "--live", "--config", str(config)], env=dict(sandbox.env)
    )
    return result.exit_code, result.output


def test_shipped_config_matches_the_sandboxes(sandbox: RunningSandbox) -> None:
    """The repository's mappings name fields that exist, are writable and fit their types."""
    code, out = _run(REPO, sandbox)
    assert code == 0, out
    ok = next(line for line in out.splitlines() if line.startswith("live check OK: "))
    assert {"hubspot", "mailchimp", "salesforce"} <= set(ok.split(": ", 1)[1].split(", "))


def test_mismatches_are_reported_with_file_and_line(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A missing field, a read-only field pushed to and a bad picklist value: file:line each."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "connectors", config / "connectors")
    shutil.copytree(REPO / "mappings", config / "mappings")
    sf = config / "mappings" / "salesforce.yaml"
    text = sf.read_text()
    text = text.replace('{"Opted In": granted', '{"Opted-In": granted', 1)
    text = text.replace("      HasOptedOutOfFax:", "      No_Such_Field__c:", 1)
    sf.write_text(text)
    hs = config / "mappings" / "hubspot.yaml"
    hs.write_text(
        hs.read_text().replace(
            "      phone_consent:\n",
            "      hs_email_optout:\n        purpose: fax\n"
            "        direction: both\n        values: {true: denied, false: granted}\n"
            "      phone_consent:\n",
        )
    )
    code, out = _run(config, sandbox)
    assert code == 2, out
    lines = {line.split(": ", 1)[0]: line for line in out.splitlines() if ".yaml:" in line}
    sf_field = next(n for n, t in enumerate(sf.read_text().splitlines(), 1) if "No_Such" in t)
    assert f"{sf}:{sf_field}" in lines
    assert "Contact.No_Such_Field__c does not exist in salesforce" in lines[f"{sf}:{sf_field}"]
    assert "'Opted-In' is not an option of Contact.SMS_Consent__c" in out
    assert "contacts.hs_email_optout is read-only in the CRM" in out
