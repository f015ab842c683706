"""`revocation_slas`: what `consent-sync status` reads of the configuration, connectors/*.yaml
alone, and when it gives up so that the whole configuration's errors are shown instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consent_sync.config import load_config, revocation_slas
from support.config_files import OFFLINE_ENV
from support.paths import REPO


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped configuration, to bend."""
    for sub in ("connectors", "mappings"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_slas_are_what_the_whole_configuration_says(config: Path) -> None:
    """Every enabled system's SLA, the default where a connector names none."""
    whole = load_config(config, env=OFFLINE_ENV)
    expected = {
        name: c.limits.revocation_sla_seconds for name, c in whole.connectors.items() if c.enabled
    }
    assert revocation_slas(config) == expected
    assert set(expected) == {"salesforce", "hubspot", "mailchimp", "dynamics"}


def test_a_disabled_system_is_left_out_and_a_set_sla_is_read(config: Path) -> None:
    connectors = config / "connectors"
    _edit(connectors / "mailchimp.yaml", "enabled: true\n", "enabled: false\n")
    _edit(connectors / "hubspot.yaml", "limits:\n", "limits:\n  revocation_sla_seconds: 120\n")
    slas = revocation_slas(config)
    assert slas is not None
    assert "mailchimp" not in slas
    assert slas["hubspot"] == 120.0


@pytest.mark.parametrize(
    "breakage",
    [
        ("limits:\n", "limits:\n  revocation_sla_seconds: -5\n"),  # not a positive number
        ("limits:\n", "limits:\n  revocation_sla_seconds: soon\n"),
        ("limits:\n", "limits: [\n"),  # a syntax error
    ],
)
def test_a_connector_file_it_cannot_read_gives_up(config: Path, breakage: tuple[str, str]) -> None:
    """None: the caller loads the whole configuration, whose errors say file:line what is wrong."""
    _edit(config / "connectors" / "hubspot.yaml", *breakage)
    assert revocation_slas(config) is None
