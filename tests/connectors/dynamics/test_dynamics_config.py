"""The shipped Dynamics configuration: it validates, `validate --live` checks its columns
against the environment's definitions, and only denials and unticked boxes are ever written."""

from __future__ import annotations

import shutil
from pathlib import Path

from consent_sync.config import load_config
from consent_sync.config.live_check import live_issues
from consent_sync.domain.mapping import targets
from consent_sync.domain.model import Status
from support.config_files import OFFLINE_ENV
from support.dynamics_org import Org
from support.paths import REPO

CONTACTS = 20


def test_the_shipped_config_validates_offline_without_warnings_but_unset_variables() -> None:
    """connectors/dynamics.yaml and mappings/dynamics.yaml load; only unset ${VARS} warn."""
    config = load_config(REPO, resolve_env=False, env={})
    assert config.connectors["dynamics"].enabled
    assert set(config.mappings["dynamics"].objects) == {"contacts"}
    dynamics = [w for w in config.warnings if w.path.name == "dynamics.yaml"]
    assert dynamics and all("is not set" in w.message for w in dynamics)


def test_the_shipped_mapping_matches_the_environment(org: Org) -> None:
    """Every mapped column exists as a writable Boolean in EntityDefinitions."""
    assert live_issues(org.config, {"dynamics": org.connector()}) == []


def test_a_checkbox_never_writes_an_opt_in(org: Org) -> None:
    """donotbulkemail writes true for a denial and false for anything else: Dataverse has no
    opt-in, and "not opted out" is written as the unticked box it reads as."""
    held = targets(org.config.mappings)
    assert held[("dynamics", "contacts", "email_marketing")] == {
        Status.DENIED: Status.DENIED,
        Status.GRANTED: Status.NOT_OPTED_OUT,
        Status.NOT_OPTED_OUT: Status.NOT_OPTED_OUT,
    }


def test_a_misnamed_column_is_reported_with_its_line(org: Org, tmp_path: Path) -> None:
    """A mapping naming a column the contact table lacks fails the live check at its line."""
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "connectors", config_dir / "connectors")
    shutil.copytree(REPO / "mappings", config_dir / "mappings")
    mapping = config_dir / "mappings" / "dynamics.yaml"
    mapping.write_text(mapping.read_text().replace("      donotphone:\n", "      donotcall:\n", 1))
    config = load_config(config_dir, env={**OFFLINE_ENV, **org.env})
    issues = live_issues(config, {"dynamics": org.connector(config=config)})
    line = next(n for n, t in enumerate(mapping.read_text().splitlines(), 1) if "donotcall:" in t)
    assert [(i.path, i.line) for i in issues] == [(mapping, line)]
    assert "contacts.donotcall does not exist in dynamics" in issues[0].message


def test_a_read_only_column_mapped_for_push_is_reported(org: Org, tmp_path: Path) -> None:
    """Mapping a purpose onto modifiedon (not IsValidForUpdate) is refused by the live check."""
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "connectors", config_dir / "connectors")
    shutil.copytree(REPO / "mappings", config_dir / "mappings")
    mapping = config_dir / "mappings" / "dynamics.yaml"
    mapping.write_text(mapping.read_text().replace("      donotfax:\n", "      modifiedon:\n", 1))
    config = load_config(config_dir, env={**OFFLINE_ENV, **org.env})
    issues = live_issues(config, {"dynamics": org.connector(config=config)})
    assert [i.message for i in issues] == [
        "contacts.modifiedon is read-only in the CRM but its direction is both; use direction: pull"
    ]
