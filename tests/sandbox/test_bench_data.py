"""The benchmark's bare Salesforce reader, the ceiling and the API-call minimum: it pages every
object the shipped mapping reads (the consent records of the mapped purposes only, the records
the connector reads), each over the connector's bulk threshold as a query job."""

from __future__ import annotations

from collections.abc import Iterator
from math import ceil
from pathlib import Path

import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync_sandbox.bench_data import bare_salesforce, salesforce_client, salesforce_reads
from consent_sync_sandbox.bench_stage import bench_config
from consent_sync_sandbox.salesforce import build_salesforce
from support.paths import REPO
from support.salesforce_emulator import Served, serve

CONTACTS = 3000
THRESHOLD = 1000  # Contacts over it, each consent object under it
UNUSED_HUBSPOT = {
    "HUBSPOT_BASE_URL": "https://127.0.0.1:9",
    "HUBSPOT_ACCESS_TOKEN": "unused",
    "HUBSPOT_CLIENT_SECRET": "unused",
    "HUBSPOT_CA_FILE": "",
}
QUERY_ALL = "GET /services/data/v{version}/queryAll/"
QUERY_MORE = "GET /services/data/v{version}/queryAll/{cursor}"
JOB_CREATE = "POST /services/data/v{version}/jobs/query"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(build_salesforce(CONTACTS, seed=3), tmp_path_factory.mktemp("bench-data"))
    yield served
    served.stop()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The benchmark's configuration, with a bulk threshold the seeded Contacts exceed."""
    config = bench_config(REPO, tmp_path)
    shipped = config / "connectors" / "salesforce.yaml"
    text = shipped.read_text(encoding="utf-8")
    assert "bulk_threshold: 10000" in text
    shipped.write_text(text.replace("bulk_threshold: 10000", f"bulk_threshold: {THRESHOLD}"))
    return config


def test_bare_reader_pages_every_mapped_object_as_the_connector_reads_it(
    org: Served, config_dir: Path
) -> None:
    """Contacts over the threshold as a query job; Leads and both consent objects over REST,
    the consent objects' records exactly those the connector's full read returns."""
    env = {**org.env, **UNUSED_HUBSPOT}
    reads = salesforce_reads(env, config_dir)
    assert [(r.sobject, r.bulk) for r in reads] == [
        ("Contact", True),
        ("Lead", False),
        ("ContactPointTypeConsent", False),
        ("ContactPointConsent", False),
    ]
    config = load_config(config_dir, env=env)
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    sf = salesforce_client(env)
    try:
        for read in reads[2:]:
            expected = {
                r.record_id for page in connector.pull(read.sobject, None) for r in page.records
            }
            bare = {row["Id"] for row in sf.query_all(read.soql, include_deleted=True)["records"]}
            assert bare == expected and expected, read.sobject
        sizes = {
            r.sobject: len(sf.query_all(r.soql, include_deleted=True)["records"]) for r in reads
        }
    finally:
        connector.close()
        sf.session.close()
    with org.control() as control:
        control.delete("/_sandbox/stats").raise_for_status()
        bare_salesforce(env, reads)
        endpoints = control.get("/_sandbox/stats").json()["endpoints"]
    assert endpoints[JOB_CREATE] == {"200": 1}  # Contacts only
    rest_pages = sum(max(1, ceil(sizes[r.sobject] / 2000)) for r in reads if not r.bulk)
    paged = sum(n for e in (QUERY_ALL, QUERY_MORE) for n in endpoints.get(e, {}).values())
    assert paged == rest_pages  # one call per 2,000 records, nothing else
