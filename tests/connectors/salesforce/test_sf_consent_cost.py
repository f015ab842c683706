"""What the consent data model costs in API calls, per 10,000 contacts, with the shipped
Salesforce configuration against a sandbox org seeded as `consent-sync sandbox` seeds it.

Run with `-s` to see the figures:

    .venv/bin/pytest -q -s tests/connectors/salesforce/test_sf_consent_cost.py -p no:cacheprovider
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from math import ceil
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.salesforce.composite import IDS_PER_QUERY, QUERIES_PER_CALL
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync.connectors.salesforce.consent_model import PEOPLE_PER_QUERY
from consent_sync.domain.records import FieldWrite
from consent_sync_sandbox.salesforce import build_salesforce
from support.paths import REPO
from support.salesforce_emulator import Served, serve

CONTACTS = 10_000
OBJECTS = ("Contact", "Lead")
CONSENT_OBJECTS = ("ContactPointTypeConsent", "ContactPointConsent")
UNUSED_HUBSPOT = {
    "HUBSPOT_BASE_URL": "https://127.0.0.1:9",
    "HUBSPOT_ACCESS_TOKEN": "unused",
    "HUBSPOT_CLIENT_SECRET": "unused",
    "HUBSPOT_CA_FILE": "",
}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(build_salesforce(CONTACTS, seed=0), tmp_path_factory.mktemp("sf-cost"))
    yield served
    served.stop()


def _shipped(org: Served, root: Path) -> SalesforceConnector:
    """The connector the shipped connectors/salesforce.yaml and mappings build."""
    (root / "connectors").mkdir(parents=True)
    (root / "mappings").mkdir()
    for system in ("salesforce", "hubspot"):  # a HubSpot grant source must be connected
        shutil.copy(REPO / "connectors" / f"{system}.yaml", root / "connectors")
        shutil.copy(REPO / "mappings" / f"{system}.yaml", root / "mappings")
    shutil.copy(REPO / "mappings/purposes.yaml", root / "mappings")
    config = load_config(root, env={**org.env, **UNUSED_HUBSPOT})
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    assert isinstance(connector, SalesforceConnector)
    return connector


def _calls(connector: SalesforceConnector, objects: tuple[str, ...], since: datetime | None) -> int:
    before = connector.api_calls
    for object_type in objects:
        for _ in connector.pull(object_type, since):
            pass
    return connector.api_calls - before


def _resolving(rows: list[dict[str, str]], owner: str, size: int, found: set[str] | None) -> int:
    """Composite calls finding the people of `rows`, read in pages of 2,000: per page, its
    owners in queries of `size` ids, five queries a call; with `found` (the Individuals a
    Contact gives an email), the rest again among the Leads."""
    calls = 0
    for start in range(0, len(rows), 2000):
        owners = {row[owner] for row in rows[start : start + 2000]}
        calls += ceil(ceil(len(owners) / size) / QUERIES_PER_CALL)
        if found is not None and (rest := owners - found):
            calls += ceil(ceil(len(rest) / size) / QUERIES_PER_CALL)
    return calls


def test_consent_objects_cost_a_few_calls_per_ten_thousand_contacts(
    org: Served, tmp_path: Path
) -> None:
    """A backfill costs one call per object for the purposes, one per 2,000 records and, per
    page, one Composite call per five queries of 2,000 Individuals' Contacts (and of the Leads
    of those without one) or of 1,000 contact points; an idle pull one call per consent object;
    a batch of 200 revocations that create consent records three calls."""
    connector = _shipped(org, tmp_path / "config")
    sf: Salesforce = org.client()
    try:
        started = datetime.now(UTC)
        base = _calls(connector, OBJECTS, None)
        backfill = _calls(connector, CONSENT_OBJECTS, None)
        idle = _calls(connector, CONSENT_OBJECTS, started)
        cptc = sf.query_all(
            "SELECT PartyId FROM ContactPointTypeConsent WHERE DataUsePurpose.Name IN "
            "('Email Marketing', 'SMS Marketing') ORDER BY SystemModstamp, Id"
        )["records"]
        cpc = sf.query_all(
            "SELECT ContactPointId FROM ContactPointConsent "
            "WHERE DataUsePurpose.Name = 'Email Marketing' ORDER BY SystemModstamp, Id"
        )["records"]
        parties = {row["PartyId"] for row in cptc}
        with_contact = {
            row["IndividualId"]
            for row in sf.query_all(
                "SELECT IndividualId, Email FROM Contact WHERE IndividualId != null"
            )["records"]
            if row["Email"] and row["Email"].strip()
        }
        assert backfill == (
            (
                1
                + ceil(len(cptc) / 2000)
                + _resolving(cptc, "PartyId", PEOPLE_PER_QUERY, with_contact)
            )
            + (1 + ceil(len(cpc) / 2000) + _resolving(cpc, "ContactPointId", IDS_PER_QUERY, None))
        )
        assert idle == len(CONSENT_OBJECTS)

        recorded = {row["PartyId"] for row in cptc}
        lacking = [
            row["Id"]
            for row in sf.query_all(
                "SELECT Id, IndividualId FROM Contact WHERE IndividualId != null "
                "AND HasOptedOutOfEmail = false ORDER BY Id"
            )["records"]
            if row["IndividualId"] not in recorded
        ][:200]
        assert len(lacking) == 200
        writes = [FieldWrite(record_id, {"HasOptedOutOfEmail": True}) for record_id in lacking]
        plain = replace(connector.settings, consent={}, implied={})
        bare = SalesforceConnector(plain)
        try:
            before = bare.api_calls
            bare.write("Contact", writes[:1])
            one_write = bare.api_calls - before
        finally:
            bare.close()
        before = connector.api_calls
        results = connector.write("Contact", writes)
        revocations = connector.api_calls - before - one_write
        assert all(r.ok for r in results)
        assert connector.implied.created == 200
        assert revocations == 3  # whose Individual; which records exist; create them
    finally:
        connector.close()
        sf.session.close()
    print(
        f"\nper {CONTACTS:,} contacts (shipped mapping, sandbox seed 0): "
        f"Contact+Lead backfill {base} calls; consent objects add {backfill} to a backfill "
        f"({len(cptc):,} ContactPointTypeConsent for {len(parties):,} Individuals, "
        f"{len(cpc):,} ContactPointConsent), {idle} to an idle pull, "
        f"{revocations} per 200 revocations that create consent records"
    )
