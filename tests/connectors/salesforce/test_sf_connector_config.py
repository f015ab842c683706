"""The repository's shipped Salesforce configuration works against the sandbox as is."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from consent_sync.config import ConfigError, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import FieldWrite
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from support.config_files import OFFLINE_ENV
from support.paths import REPO
from support.salesforce_org import Org

#: The other shipped connectors must resolve too (OFFLINE_ENV); these values are never used.
HUBSPOT_ENV = {
    "HUBSPOT_BASE_URL": "https://127.0.0.1:9",
    "HUBSPOT_ACCESS_TOKEN": "unused",
    "HUBSPOT_CLIENT_SECRET": "unused",
    "HUBSPOT_CA_FILE": "",
}


def test_shipped_config_pulls_describes_and_writes(org: Org, control: httpx.Client) -> None:
    """connectors/salesforce.yaml + mappings/salesforce.yaml build a connector that reads every
    mapped field of Contact and Lead, finds them writable in describe, and writes."""
    config = load_config(REPO, env={**OFFLINE_ENV, **org.env, **HUBSPOT_ENV})
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    assert isinstance(connector, SalesforceConnector)
    try:
        mapping = config.mappings["salesforce"]
        for object_type, object_mapping in mapping.objects.items():
            described = {f.name: f for f in connector.describe(object_type)}
            if object_mapping.kind == "consent_records":
                # Each consent record speaks for one of the object's entries, with its person.
                assert described["PrivacyConsentStatus"].writable
                records = [r for p in connector.pull(object_type, None) for r in p.records]
                assert records, object_type
                for record in records:
                    held = set(record.fields) & set(object_mapping.fields)
                    assert len(held) == 1 and record.fields["Email"], record
                continue
            for name in object_mapping.fields:
                assert described[name].writable, name
            pages = list(connector.pull(object_type, None))
            for page in pages:
                for record in page.records:
                    assert set(object_mapping.fields) <= set(record.fields)
        first = next(connector.pull("Contact", None)).records[0]
        flipped = not first.fields["DoNotCall"]
        [result] = connector.write("Contact", [FieldWrite(first.record_id, {"DoNotCall": flipped})])
        assert result.ok
        [back] = connector.read("Contact", [first.record_id])
        assert back.fields["DoNotCall"] is flipped
    finally:
        connector.close()


def test_bulk_threshold_and_lookback_reach_the_connector(org: Org, tmp_path: Path) -> None:
    """`limits.bulk_threshold` defaults to 10,000 in the shipped file and is passed on, with the
    lookback the connector remembers read records for."""
    shipped = load_config(REPO, env={**OFFLINE_ENV, **org.env, **HUBSPOT_ENV})
    connector = build_connector(shipped.connectors["salesforce"], shipped.mappings["salesforce"])
    assert isinstance(connector, SalesforceConnector)
    assert connector.settings.bulk_threshold == 10_000
    assert connector.settings.lookback_seconds == 300
    connector.close()
    root = _copy_config(tmp_path, "bulk_threshold: 10000", "bulk_threshold: 250")
    config = load_config(root, env={**OFFLINE_ENV, **org.env, **HUBSPOT_ENV})
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    assert isinstance(connector, SalesforceConnector)
    assert connector.settings.bulk_threshold == 250
    connector.close()


def test_a_negative_bulk_threshold_is_refused_with_its_line(org: Org, tmp_path: Path) -> None:
    """A bulk_threshold below zero is a configuration error naming the file and line."""
    root = _copy_config(tmp_path, "bulk_threshold: 10000", "bulk_threshold: -1")
    line = 1 + (root / "connectors/salesforce.yaml").read_text().split("\n").index(
        "  bulk_threshold: -1"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(root, env={**OFFLINE_ENV, **org.env, **HUBSPOT_ENV})
    assert f"connectors/salesforce.yaml:{line}" in str(raised.value)
    assert "bulk_threshold" in str(raised.value)


def _copy_config(tmp_path: Path, old: str, new: str) -> Path:
    for folder in ("connectors", "mappings"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    path = tmp_path / "connectors/salesforce.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return tmp_path
