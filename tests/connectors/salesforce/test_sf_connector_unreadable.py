"""Salesforce values that will not parse spoil their own record, never the page or the read:
a bad `Id`, `SystemModstamp` or `IsDeleted` makes that record broken (no fields), the page's
watermark comes from the readable records, and everything else reads as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consent_sync.domain.records import WHOLE_RECORD, Page
from support.salesforce_org import MakeConnector, seeded_ids


@pytest.fixture
def garble(control: httpx.Client) -> Iterator[Any]:
    """Serve one record's fields as given (until the test ends)."""

    def serve(record_id: str, **fields: Any) -> None:
        control.put("/_sandbox/garble", json={"id": record_id, "fields": fields}).raise_for_status()

    yield serve
    control.delete("/_sandbox/garble").raise_for_status()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("SystemModstamp", "2026-13-45T00:00:00.000+0000", "not a Salesforce dateTime"),
        ("SystemModstamp", "2026-01-02T03:04:05", "not a Salesforce dateTime"),
        ("SystemModstamp", 1767225600, "not a Salesforce dateTime"),
        ("IsDeleted", "false", "not a boolean"),
        ("Id", "003-not-an-id", "not a record id"),
    ],
)
def test_a_malformed_value_breaks_its_record_only(
    make_connector: MakeConnector, garble: Any, field: str, value: Any, reason: str
) -> None:
    """The read returns every record asked for; the garbled one is broken with the value kept."""
    connector = make_connector()
    ids = seeded_ids(connector, 5)
    garble(ids[2], **{field: value})
    records = connector.read("Contact", ids)
    assert len(records) == 5
    broken = [r for r in records if not r.readable]
    assert len(broken) == 1
    (problem,) = broken[0].unreadable.values()
    assert WHOLE_RECORD in broken[0].unreadable and broken[0].fields == {}
    assert problem.part == field and problem.reason == reason
    assert problem.raw == (value if isinstance(value, str) else repr(value))
    assert broken[0].record_id == ("" if field == "Id" else ids[2])
    assert not broken[0].deleted  # "false" is never read as a deletion
    healthy = [r for r in records if r.readable]
    assert {r.record_id for r in healthy} == set(ids) - {ids[2]}
    assert all("HasOptedOutOfEmail" in r.fields for r in healthy)


def test_a_broken_stamp_never_moves_the_watermark(
    make_connector: MakeConnector, garble: Any
) -> None:
    """A pull page's watermark is the newest readable stamp, not whatever the broken one says."""
    connector = make_connector(page_size=2000)
    ids = seeded_ids(connector, 3)
    garble(ids[0], SystemModstamp="9999-12-31T23:59:59.000+0000x")
    pages = list(connector.pull("Contact", None))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    records = [r for page in pages for r in page.records]
    assert [r.record_id for r in records if not r.readable] == [ids[0]]
    newest = max(r.modified_at for r in records if r.readable)
    assert pages[-1].watermark == newest
