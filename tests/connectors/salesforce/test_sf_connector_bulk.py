"""Full reads above `bulk_threshold` run as Bulk API 2.0 query jobs, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consent_sync.connectors.protocol import PermanentError, TransientError
from consent_sync.connectors.salesforce.bulk import BulkSettings
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync.domain.records import Page, Record
from consent_sync_sandbox.salesforce import bulk2
from support.salesforce_org import FIELDS, SEEDED, MakeConnector, act, requests_to

JOBS = "/services/data/v{version}/jobs/query"
CREATE = f"POST {JOBS}"
POLL = f"GET {JOBS}/{{job_id}}"
RESULTS = f"GET {JOBS}/{{job_id}}/results"
ABORT = f"PATCH {JOBS}/{{job_id}}"
DELETE = f"DELETE {JOBS}/{{job_id}}"
WITH_NAMES = {"Contact": (*FIELDS, "FirstName", "LastName"), "Lead": FIELDS}
QUICK_POLL = BulkSettings(poll_initial=0.01, poll_max=0.05)


def _records(pages: list[Page]) -> list[Record]:
    return sorted((r for p in pages for r in p.records), key=lambda r: r.record_id)


def _total_requests(control: httpx.Client) -> int:
    endpoints = control.get("/_sandbox/stats").json()["endpoints"]
    return sum(sum(counts.values()) for name, counts in endpoints.items() if "oauth2" not in name)


@pytest.fixture
def messy(control: httpx.Client) -> Iterator[dict[str, str]]:
    """Records a CSV reader must get right: names with commas, quotes and newlines, a deleted
    record, and values the org serves garbled (a boolean that is none, a stamp that is none)."""
    names = {
        "comma": ("Anne, Marie", "O'Neil, Jr."),
        "quote": ('Say "hi"', 'The "Boss"'),
        "newline": ("Line\none", "Two\r\nlines"),
        "empty": ("", "Blank"),
    }
    ids: dict[str, str] = {}
    for key, (first, last) in names.items():
        fields: dict[str, Any] = {"LastName": last, "Email": f"{key}@bulk.test", "DoNotCall": True}
        if first:
            fields["FirstName"] = first
        [ids[key]] = act(control, action="create", fields=fields)
    [ids["deleted"]] = act(control, action="create", fields={"LastName": "Gone"})
    act(control, action="delete", id=ids["deleted"])
    [ids["bad_bool"]] = act(control, action="create", fields={"LastName": "Bool"})
    [ids["bad_stamp"]] = act(control, action="create", fields={"LastName": "Stamp"})
    control.put(
        "/_sandbox/garble", json={"id": ids["bad_bool"], "fields": {"DoNotCall": "maybe"}}
    ).raise_for_status()
    control.put(
        "/_sandbox/garble", json={"id": ids["bad_stamp"], "fields": {"SystemModstamp": "soon"}}
    ).raise_for_status()
    yield ids
    control.delete("/_sandbox/garble").raise_for_status()


def test_a_full_read_above_the_threshold_is_one_query_job_with_the_rest_records(
    make_connector: MakeConnector, control: httpx.Client, messy: dict[str, str]
) -> None:
    """Above bulk_threshold a full read creates, polls, pages and deletes one query job, and
    yields exactly the records (values, stamps, deletions, broken ones) REST paging yields."""
    rest = make_connector(fields=WITH_NAMES, bulk_threshold=10**9)
    expected = _records(list(rest.pull("Contact", None)))
    bulk = make_connector(fields=WITH_NAMES, bulk_threshold=SEEDED // 2, bulk=QUICK_POLL)
    control.delete("/_sandbox/stats").raise_for_status()
    pages = list(bulk.pull("Contact", None))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)

    assert requests_to(control, CREATE) == 1
    assert requests_to(control, POLL) >= 2  # a job is never complete at once
    assert requests_to(control, RESULTS) == 1  # 5,000-odd rows fit one 50,000-row page
    assert requests_to(control, DELETE) == 1
    assert bulk.api_calls == _total_requests(control)
    got = _records(pages)
    assert [r.record_id for r in got] == [r.record_id for r in expected]
    assert got == expected
    by_id = {r.record_id: r for r in got}
    assert by_id[messy["comma"]].fields["FirstName"] == "Anne, Marie"
    assert by_id[messy["quote"]].fields["LastName"] == 'The "Boss"'
    assert by_id[messy["newline"]].fields["LastName"] == "Two\r\nlines"
    assert by_id[messy["empty"]].fields["FirstName"] is None
    assert by_id[messy["deleted"]].deleted is True
    assert by_id[messy["bad_bool"]].fields["DoNotCall"] == "maybe"  # the mapping's conflict
    assert not by_id[messy["bad_stamp"]].readable
    # No stamp order in a job: only the closing page may move the cursor.
    assert [p.watermark is not None for p in pages] == [False] * (len(pages) - 1) + [True]


def test_a_full_read_at_or_under_the_threshold_stays_on_rest(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """The first REST page counts the object: a small one is read on from it, no job made."""
    connector = make_connector(bulk_threshold=10**9)
    control.delete("/_sandbox/stats").raise_for_status()
    pages = list(connector.pull("Contact", None))
    assert requests_to(control, CREATE) == 0
    assert sum(len(p.records) for p in pages) >= SEEDED


def test_the_results_stream_is_handed_on_a_page_at_a_time(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """One results call of every row is parsed as it streams: never more than `page_size` rows
    are held, whatever maxRecords is."""
    connector = make_connector(
        bulk_threshold=1000,
        page_size=300,
        bulk=BulkSettings(max_records=1_000_000, poll_initial=0.01, poll_max=0.05),
    )
    control.delete("/_sandbox/stats").raise_for_status()
    pages = list(connector.pull("Contact", None))
    assert requests_to(control, RESULTS) == 1
    assert sum(len(p.records) for p in pages) >= SEEDED
    assert max(len(p.records) for p in pages) == 300
    assert connector.bulk_rows_held == 300


def test_results_are_paged_by_locator(make_connector: MakeConnector, control: httpx.Client) -> None:
    """maxRecords below the object's size pages the results by Sforce-Locator, none twice."""
    connector = make_connector(
        bulk_threshold=1000, bulk=BulkSettings(max_records=1500, poll_initial=0.01)
    )
    control.delete("/_sandbox/stats").raise_for_status()
    records = _records(list(connector.pull("Contact", None)))
    assert len({r.record_id for r in records}) == len(records) >= SEEDED
    assert requests_to(control, RESULTS) == -(-len(records) // 1500)


def test_429_while_polling_is_retried(
    connector_for_bulk: SalesforceConnector, control: httpx.Client
) -> None:
    """A 429 on a status poll is waited out through the retry layer; the read completes."""
    control.put(
        "/_sandbox/faults",
        json={
            "rules": [
                {"path": "/jobs/query/[^/]+$", "method": "GET", "status": 429, "times": 2},
            ]
        },
    ).raise_for_status()
    pages = list(connector_for_bulk.pull("Contact", None))
    assert sum(len(p.records) for p in pages) >= SEEDED
    assert requests_to(control, POLL) >= 4
    assert requests_to(control, DELETE) == 1


@pytest.mark.parametrize(
    ("state", "error"), [("Failed", PermanentError), ("Aborted", TransientError)]
)
def test_a_failed_or_aborted_job_raises_and_is_deleted(
    connector_for_bulk: SalesforceConnector,
    control: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    error: type[Exception],
) -> None:
    """A job Salesforce fails is a permanent error, one aborted elsewhere a transient one; either
    way no record is yielded and the job is deleted."""

    def end(job: bulk2.QueryJob, now: float) -> None:
        job.state = state

    monkeypatch.setattr(bulk2.QueryJob, "poll", end)
    pages = connector_for_bulk.pull("Contact", None)
    with pytest.raises(error, match=state.lower()):
        next(pages)
    assert requests_to(control, RESULTS) == 0
    assert requests_to(control, DELETE) == 1


def test_a_job_that_never_completes_is_aborted(
    make_connector: MakeConnector, control: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling is bounded: past its timeout the job is aborted, deleted, and the read fails
    transiently (the next cycle tries again)."""
    connector = make_connector(
        bulk_threshold=1000, bulk=BulkSettings(poll_initial=0.01, poll_max=0.02, timeout=0.05)
    )

    def stuck(job: bulk2.QueryJob, now: float) -> None:
        job.state = "InProgress"

    monkeypatch.setattr(bulk2.QueryJob, "poll", stuck)
    with pytest.raises(TransientError, match="not complete"):
        list(connector.pull("Contact", None))
    assert requests_to(control, ABORT) == 1
    assert requests_to(control, DELETE) == 1


def test_a_failed_delete_does_not_fail_the_read(
    connector_for_bulk: SalesforceConnector, control: httpx.Client
) -> None:
    """The job is deleted to free the org's storage; a refusal to delete is only logged."""
    control.put(
        "/_sandbox/faults",
        json={"rules": [{"path": "/jobs/query/[^/]+$", "method": "DELETE", "status": 400}]},
    ).raise_for_status()
    pages = list(connector_for_bulk.pull("Contact", None))
    assert sum(len(p.records) for p in pages) >= SEEDED


@pytest.fixture
def connector_for_bulk(make_connector: MakeConnector, control: httpx.Client) -> SalesforceConnector:
    """A connector that reads Contact (5,200+ records) through a query job."""
    connector = make_connector(bulk_threshold=1000, bulk=QUICK_POLL)
    connector.describe("Contact")  # login and field types; then count from zero
    control.delete("/_sandbox/stats").raise_for_status()
    return connector
