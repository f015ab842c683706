"""Log lines never carry emails or secrets."""

from __future__ import annotations

import json
import re

import pytest
import structlog

from consent_sync.logs import configure


def test_emails_and_secrets_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """An email inside any value and a secret-named field are replaced before rendering."""
    configure("INFO", json=True)
    structlog.get_logger("t").warning(
        "push failed for o'brien@example.com", client_secret="s3cr3t", detail="to Zoë@exämple.de"
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert re.fullmatch(r"push failed for <email:[0-9a-f]{8}>", line["event"])
    assert line["client_secret"] == "***"
    assert re.fullmatch(r"to <email:[0-9a-f]{8}>", line["detail"])


def test_level_filters_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Below the configured level nothing is written."""
    configure("WARNING", json=True)
    structlog.get_logger("t").info("pull", system="salesforce")
    assert capsys.readouterr().err == ""
