"""Bulk API 2.0 query jobs: simple-salesforce's bulk2 unmodified, and the raw HTTP contract."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

from support.salesforce_emulator import SEEDED, VERSION, Served
from support.waiting import wait_for

JOBS = f"/services/data/v{VERSION}/jobs/query"
FIELDS = "Id, FirstName, LastName, Email, Phone, HasOptedOutOfEmail, DoNotCall, SMS_Consent__c"
FIELDS += ", IsDeleted, SystemModstamp"


@pytest.fixture
def api(served: Served) -> Iterator[httpx.Client]:
    """httpx with a live session, for the versioned API."""
    with served.control() as client:
        client.headers["Authorization"] = f"Bearer {served.token()}"
        yield client


def _since(days: int) -> str:
    """The full-read SOQL over records modified in the last `days` days."""
    moment = datetime.now(UTC) - timedelta(days=days)
    return format_soql("SELECT {:literal} FROM Contact WHERE SystemModstamp >= {}", FIELDS, moment)


def _rows(pages: list[str]) -> list[dict[str, str]]:
    """Every page's CSV rows (each page carries its own header)."""
    return [row for page in pages for row in csv.DictReader(io.StringIO(page))]


def _as_csv(record: dict[str, Any]) -> dict[str, str]:
    """A REST record as the Bulk CSV writes it: booleans true/false, nulls empty, UTC `Z`."""
    out = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is None:
            out[name] = ""
        else:
            out[name] = str(value).replace("+0000", "Z")
    return out


def _run_job(api: httpx.Client, soql: str, operation: str = "query", **options: str) -> str:
    """Create a job and poll it to JobComplete; its id."""
    created = api.post(JOBS, json={"operation": operation, "query": soql, **options})
    assert created.status_code == 200, created.text
    job_id = str(created.json()["id"])
    wait_for(
        lambda: api.get(f"{JOBS}/{job_id}").json()["state"] == "JobComplete", 10, "job complete"
    )
    return job_id


def test_bulk2_query_returns_what_rest_query_all_returns(sf: Salesforce) -> None:
    """simple-salesforce's bulk2 query pages through the same records REST query_all gives."""
    soql = _since(20)  # a SystemModstamp filter: about two thirds of the seeded contacts
    pages = list(sf.bulk2.Contact.query(soql, max_records=1000, wait=1))
    rest = [_as_csv(r) for r in sf.query_all(soql)["records"]]
    assert len(pages) >= 3
    assert SEEDED // 2 < len(rest) < SEEDED
    assert _rows(pages) == rest


def test_bulk2_download_streams_pages_to_files(sf: Salesforce, tmp_path: Path) -> None:
    """download() writes one CSV file per page; together they hold every live contact."""
    soql = format_soql("SELECT {:literal} FROM Contact", FIELDS)
    results = sf.bulk2.Contact.download(soql, path=str(tmp_path), max_records=2500, wait=1)
    pages = [Path(r["file"]).read_text(encoding="utf-8") for r in results]
    assert [r["number_of_records"] for r in results[:2]] == [2500, 2500]
    assert results[-1]["locator"] == ""
    rest = [_as_csv(r) for r in sf.query_all(soql)["records"]]
    assert len(rest) >= SEEDED
    assert _rows(pages) == rest


def test_query_all_job_includes_deleted_records(sf: Salesforce, control: httpx.Client) -> None:
    """operation queryAll returns a deleted contact (IsDeleted true); query does not."""
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Gone", "Email": "bulk.gone@x.com"}},
    )
    record_id = made.json()["ids"][0]
    control.post("/_sandbox/act", json={"action": "delete", "id": record_id}).raise_for_status()
    soql = format_soql("SELECT {:literal} FROM Contact WHERE Email = {}", FIELDS, "bulk.gone@x.com")
    everything = _rows(list(sf.bulk2.Contact.query_all(soql, wait=1)))
    live = _rows(list(sf.bulk2.Contact.query(soql, wait=1)))
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(record_id, "true")]
    assert live == []
    assert everything == [_as_csv(r) for r in sf.query_all(soql, include_deleted=True)["records"]]


def test_job_states_locators_and_record_counts(api: httpx.Client) -> None:
    """UploadComplete, then InProgress on the first poll, then JobComplete; pages by locator."""
    soql = "SELECT Id FROM Contact"
    created = api.post(JOBS, json={"operation": "query", "query": soql})
    job = created.json()
    assert (job["state"], job["object"], job["contentType"]) == ("UploadComplete", "Contact", "CSV")
    assert job["id"].startswith("750")
    assert api.get(f"{JOBS}/{job['id']}").json()["state"] == "InProgress"
    early = api.get(f"{JOBS}/{job['id']}/results")
    assert early.status_code == 412
    assert early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"

    wait_for(lambda: api.get(f"{JOBS}/{job['id']}").json()["state"] == "JobComplete", 10, "done")
    info = api.get(f"{JOBS}/{job['id']}").json()
    assert info["numberRecordsProcessed"] >= SEEDED
    assert info["jobType"] == "V2Query"
    ids: list[str] = []
    locator, pages = "", 0
    while True:
        params = {"maxRecords": "2000", **({"locator": locator} if locator else {})}
        page = api.get(f"{JOBS}/{job['id']}/results", params=params)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/csv")
        lines = page.text.splitlines()
        assert lines[0] == '"Id"'
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(lines) - 1
        ids += [line.strip('"') for line in lines[1:]]
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
        # A locator can be reused, with another page size. The emulator is shared by the
        # session, so how many records are left after this page depends on what ran before.
        again = api.get(f"{JOBS}/{job['id']}/results", params={"locator": locator, "maxRecords": 5})
        left = info["numberRecordsProcessed"] - len(ids)
        assert again.headers["Sforce-NumberOfRecords"] == str(min(5, left))
        assert again.text.splitlines()[1].strip('"') not in ids  # it starts after this page
    assert pages == -(-info["numberRecordsProcessed"] // 2000)
    assert len(ids) == len(set(ids)) == info["numberRecordsProcessed"]


def test_csv_is_rfc4180_with_quotes_commas_newlines_and_nulls(
    api: httpx.Client, control: httpx.Client
) -> None:
    """A value with a comma, quotes and a newline survives; a null field is empty."""
    awkward = 'Smith, "Jr"\nthe second'
    control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": awkward, "Email": "rfc.4180@x.com"}},
    ).raise_for_status()
    soql = "SELECT LastName, Phone, DoNotCall FROM Contact WHERE Email = 'rfc.4180@x.com'"
    body = api.get(f"{JOBS}/{_run_job(api, soql)}/results").text
    assert body == '"LastName","Phone","DoNotCall"\n"Smith, ""Jr""\nthe second","","false"\n'
    assert list(csv.reader(io.StringIO(body)))[1] == [awkward, "", "false"]


def test_column_delimiter_and_line_ending_are_honoured(api: httpx.Client) -> None:
    """columnDelimiter PIPE and lineEnding CRLF shape the CSV."""
    soql = "SELECT Id, DoNotCall FROM Contact LIMIT 2"
    job_id = _run_job(api, soql, columnDelimiter="PIPE", lineEnding="CRLF")
    body = api.get(f"{JOBS}/{job_id}/results").text
    assert body.startswith('"Id"|"DoNotCall"\r\n"003')
    assert body.count("\r\n") == 3


def test_abort_delete_and_listing(api: httpx.Client) -> None:
    """A running job can be aborted, not deleted; a finished one deleted, then it is gone."""
    created = api.post(JOBS, json={"operation": "query", "query": "SELECT Id FROM Contact"})
    job_id = created.json()["id"]
    assert job_id in [j["id"] for j in api.get(JOBS).json()["records"]]
    refused = api.delete(f"{JOBS}/{job_id}")
    assert refused.status_code == 400
    assert "not terminated" in refused.json()[0]["message"]
    aborted = api.patch(f"{JOBS}/{job_id}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert api.get(f"{JOBS}/{job_id}").json()["state"] == "Aborted"
    assert api.patch(f"{JOBS}/{job_id}", json={"state": "Aborted"}).status_code == 400
    assert api.get(f"{JOBS}/{job_id}/results").status_code == 412
    assert api.delete(f"{JOBS}/{job_id}").status_code == 204
    gone = api.get(f"{JOBS}/{job_id}")
    assert gone.status_code == 404
    assert gone.json()[0]["errorCode"] == "NOT_FOUND"
    assert job_id not in [j["id"] for j in api.get(JOBS).json()["records"]]


def test_bad_soql_is_refused_at_create_like_rest(api: httpx.Client, sf: Salesforce) -> None:
    """An unknown field answers 400 with REST's error; COUNT() and bad options are refused."""
    bad = api.post(JOBS, json={"operation": "query", "query": "SELECT Nope FROM Contact"})
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope'" in bad.json()[0]["message"]
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        list(sf.bulk2.Contact.query("SELECT Nope FROM Contact", wait=1))
    count = api.post(JOBS, json={"operation": "query", "query": "SELECT COUNT() FROM Contact"})
    assert count.status_code == 400
    wrong = api.post(JOBS, json={"operation": "upsert", "query": "SELECT Id FROM Contact"})
    assert wrong.status_code == 400
    assert "operation" in wrong.json()[0]["message"]


def test_results_need_the_job_s_api_version_and_a_valid_locator(api: httpx.Client) -> None:
    """Results asked under another API version answer 409; a forged locator answers 400."""
    job_id = _run_job(api, "SELECT Id FROM Contact LIMIT 3")
    other = api.get(f"/services/data/v60.0/jobs/query/{job_id}/results")
    assert other.status_code == 409
    forged = api.get(f"{JOBS}/{job_id}/results", params={"locator": "not-a-locator"})
    assert forged.status_code == 400


def test_every_bulk_call_needs_a_session(served: Served) -> None:
    """Without a bearer token each Bulk 2.0 route answers 401 INVALID_SESSION_ID."""
    with served.control() as anonymous:
        for method, path in (("POST", JOBS), ("GET", JOBS), ("GET", f"{JOBS}/750x/results")):
            response = anonymous.request(method, path, json={})
            assert response.status_code == 401
            assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_bulk_calls_are_counted_charged_and_faultable(
    served: Served, api: httpx.Client, control: httpx.Client
) -> None:
    """Bulk calls show in the request stats and the API meter; injected faults hit them."""
    stats = served.emulator.stats
    before_calls = stats.total("/services/data/v{version}/jobs/query")
    before_used = control.get("/_sandbox/api-usage").json()["used"]
    job_id = _run_job(api, "SELECT Id FROM Contact LIMIT 10")
    rule = {"path": "/jobs/query/.*/results$", "status": 503, "times": 1}
    control.put("/_sandbox/faults", json={"rules": [rule]}).raise_for_status()
    failed = api.get(f"{JOBS}/{job_id}/results")
    assert failed.status_code == 503
    assert failed.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert api.get(f"{JOBS}/{job_id}/results").headers["Sforce-NumberOfRecords"] == "10"
    used = control.get("/_sandbox/api-usage").json()["used"] - before_used
    assert used >= 4  # create, at least two polls, the results that got through

    def calls() -> int:  # a request is counted just after its response has gone out
        return stats.total("/services/data/v{version}/jobs/query") - before_calls

    wait_for(lambda: calls() >= used + 1, 5, "the stats to count the bulk calls")
    assert calls() == used + 1  # the injected 503 is counted but never reached the API


def test_garbled_values_are_served_in_csv_too(api: httpx.Client, control: httpx.Client) -> None:
    """A field `/_sandbox/garble` serves wrongly comes out wrong in the CSV, as in REST."""
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Garbled", "Email": "bulk.garble@x.com"}},
    )
    record_id = made.json()["ids"][0]
    soql = "SELECT Id, DoNotCall FROM Contact WHERE Email = 'bulk.garble@x.com'"
    garble = {"id": record_id, "fields": {"DoNotCall": "maybe"}}
    control.put("/_sandbox/garble", json=garble).raise_for_status()
    try:
        body = api.get(f"{JOBS}/{_run_job(api, soql)}/results").text
    finally:
        control.delete("/_sandbox/garble").raise_for_status()
    assert body == f'"Id","DoNotCall"\n"{record_id}","maybe"\n'
