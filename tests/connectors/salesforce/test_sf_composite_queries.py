"""Many SOQL queries in few calls through the Composite resource (`composite.py`), against the
emulator: the rows each query answers in order, five queries a call, long results followed, and
refusals and faults handled as for a REST query."""

from __future__ import annotations

import httpx
import pytest
from simple_salesforce.format import format_soql

from consent_sync.connectors.protocol import PermanentError
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync_sandbox.bench_data import salesforce_client
from support.salesforce_org import SEEDED, MakeConnector, Org

COMPOSITE = "POST /services/data/v{version}/composite"


@pytest.fixture
def connector(make_connector: MakeConnector, control: httpx.Client) -> SalesforceConnector:
    """A logged-in connector, the request counts zeroed."""
    made = make_connector()
    made.describe("Contact")
    control.delete("/_sandbox/stats").raise_for_status()
    return made


def test_queries_answer_their_rows_in_order_five_a_call(
    connector: SalesforceConnector, control: httpx.Client, org: Org
) -> None:
    """Seven queries, the first answering every Contact (three pages of 2,000): each gets
    exactly the rows a REST query_all returns, in order, in three Composite calls (five
    queries; the first one's second page and the last two; its third page)."""
    every = "SELECT Id FROM Contact ORDER BY Id"
    sf = salesforce_client(org.env)
    ids = [r["Id"] for r in sf.query_all(every)["records"]]
    sf.session.close()
    assert len(ids) >= SEEDED > 4000
    small = [
        format_soql("SELECT Id FROM Contact WHERE Id IN {ids} ORDER BY Id", ids=ids[i : i + 300])
        for i in range(0, 1800, 300)
    ]
    control.delete("/_sandbox/stats").raise_for_status()
    before = connector.api_calls

    answered = connector.consent.query_many("Contact", [every, *small])

    assert [[r["Id"] for r in rows] for rows in answered] == [
        ids,
        *(ids[i : i + 300] for i in range(0, 1800, 300)),
    ]
    assert connector.api_calls - before == 3
    stats = control.get("/_sandbox/stats").json()
    assert stats["endpoints"] == {COMPOSITE: {"200": 3}}


def test_a_refused_query_raises_as_a_refused_rest_query(
    connector: SalesforceConnector,
) -> None:
    """A subquery Salesforce refuses (an unknown field) raises the connector's permanent error
    with Salesforce's code, as the same REST query would."""
    with pytest.raises(PermanentError) as refused:
        connector.consent.query_many(
            "Contact", ["SELECT Id FROM Contact LIMIT 1", "SELECT Nope FROM Contact"]
        )
    assert refused.value.code == "INVALID_FIELD"


def test_a_failed_composite_call_is_retried(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A Composite call answered 503 is sent again under the retry policy; the rows arrive."""
    control.put(
        "/_sandbox/faults", json={"rules": [{"path": "/composite$", "status": 503, "times": 1}]}
    ).raise_for_status()
    (rows,) = connector.consent.query_many("Contact", ["SELECT Id FROM Contact LIMIT 3"])
    assert len(rows) == 3
    stats = control.get("/_sandbox/stats").json()
    assert stats["endpoints"] == {COMPOSITE: {"200": 1, "503": 1}}
