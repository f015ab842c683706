"""The repository's shipped Salesforce configuration works against the sandbox as is."""

from __future__ import annotations

import httpx

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import FieldWrite
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from support.paths import REPO
from support.salesforce_org import Org

#: The HubSpot connector must resolve too; these values are never used here.
HUBSPOT_ENV = {
    "HUBSPOT_BASE_URL": "https://127.0.0.1:9",
    "HUBSPOT_ACCESS_TOKEN": "unused",
    "HUBSPOT_CLIENT_SECRET": "unused",
    "HUBSPOT_CA_FILE": "",
}


def test_shipped_config_pulls_describes_and_writes(org: Org, control: httpx.Client) -> None:
    """connectors/salesforce.yaml + mappings/salesforce.yaml build a connector that reads every
    mapped field of Contact and Lead, finds them writable in describe, and writes."""
    config = load_config(REPO, env={**org.env, **HUBSPOT_ENV})
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    assert isinstance(connector, SalesforceConnector)
    try:
        mapping = config.mappings["salesforce"]
        for object_type, object_mapping in mapping.objects.items():
            described = {f.name: f for f in connector.describe(object_type)}
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
