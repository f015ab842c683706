"""The shipped Mailchimp configuration: it validates, and `validate --live` checks its fields
against the audience, reporting a mistake with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

from consent_sync.config import load_config
from consent_sync.config.live_check import live_issues
from consent_sync.connectors.factory import build_connector
from consent_sync.domain.mapping import targets
from consent_sync.domain.model import Status
from support.config_files import OFFLINE_ENV
from support.mailchimp_audience import Audience, shipped_config
from support.paths import REPO

CONTACTS = 20


def test_the_shipped_mapping_matches_the_audience(audience: Audience) -> None:
    """Every mapped Mailchimp field exists, is writable where pushed, and fits its values."""
    assert live_issues(audience.config, {"mailchimp": audience.connector()}) == []


def test_only_grants_and_denials_are_ever_written(audience: Audience) -> None:
    """The status field writes `subscribed` for a grant and `unsubscribed` for a denial, and
    nothing for "not opted out"; the GDPR permission is never written."""
    held = targets(audience.config.mappings)
    assert held[("mailchimp", "members", "email_marketing")] == {
        Status.GRANTED: Status.GRANTED,
        Status.DENIED: Status.DENIED,
    }
    assert ("mailchimp", "members", "targeted_advertising") not in held


def test_a_misnamed_field_is_reported_with_its_line(audience: Audience, tmp_path: Path) -> None:
    """A mapping naming a field the audience does not have fails the live check at its line."""
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "connectors", config_dir / "connectors")
    shutil.copytree(REPO / "mappings", config_dir / "mappings")
    mapping = config_dir / "mappings" / "mailchimp.yaml"
    mapping.write_text(mapping.read_text().replace("      status:\n", "      stauts:\n", 1))
    config = load_config(config_dir, env={**OFFLINE_ENV, **audience.env})
    issues = live_issues(config, {"mailchimp": audience.connector()})
    line = next(n for n, t in enumerate(mapping.read_text().splitlines(), 1) if "stauts:" in t)
    assert [(i.path, i.line) for i in issues] == [(mapping, line)]
    assert "members.stauts does not exist in mailchimp" in issues[0].message


def test_a_wrong_audience_id_fails_the_live_check(audience: Audience) -> None:
    """An audience id the account does not have is reported, not taken for an empty audience."""
    config = shipped_config({**audience.env, "MAILCHIMP_LIST_ID": "0000000000"})
    connector = build_connector(config.connectors["mailchimp"], config.mappings["mailchimp"])
    try:
        issues = live_issues(config, {"mailchimp": connector})
    finally:
        connector.close()
    assert len(issues) == 1
    assert "cannot describe members in mailchimp" in issues[0].message
