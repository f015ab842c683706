"""The declarative connector against the Dataverse emulator, run from the documented spec:
OAuth client credentials, change tracking through delta links, OData `$batch` writes."""

from __future__ import annotations

import pytest

from consent_sync.connectors.protocol import AuthError
from consent_sync.domain.records import FieldWrite, Page, Record
from support.declarative_dataverse import (
    BATCH,
    CONTACTS,
    CONTACTS_SEEDED,
    Environment,
    _no_leftover_dataverse_faults,
    dataverse,
)

__all__ = ["_no_leftover_dataverse_faults", "dataverse"]

TOKEN = "POST /{tenant}/oauth2/v2.0/token"
MISSING_ID = "00000000-0000-0000-0000-0000000000aa"


def _records(pages: list[Page]) -> list[Record]:
    return [record for page in pages for record in page.records]


def test_a_tracked_read_pages_everything_and_leaves_a_change_link(dataverse: Environment) -> None:
    """The first pull reads every contact through next links and only its last page carries
    the change link (with the cursor); one token serves every call."""
    connector = dataverse.connector(page_size=100)
    dataverse.reset_stats()
    pages = list(connector.pull("contacts", None))
    records = _records(pages)
    assert len(records) == CONTACTS_SEEDED == len({r.record_id for r in records})
    assert dataverse.requests(CONTACTS) == 3 == connector.api_calls
    assert [p.resume is not None for p in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1].watermark is not None and pages[-1].records == []
    assert "$deltatoken=" in str(pages[-1].resume)
    assert dataverse.requests(TOKEN) == 1


def test_following_the_change_link_reads_only_what_changed(dataverse: Environment) -> None:
    """After an opt-out, an edit and a deletion, the link yields those three (the deletion as
    one), in one call, and a fresh link; a link with no changes yields nothing."""
    connector = dataverse.connector()
    pages = list(connector.pull("contacts", None))
    records = _records(pages)
    link = str(pages[-1].resume)
    opted, edited, deleted = records[0], records[1], records[2]
    dataverse.act("opt_out", id=opted.record_id)
    dataverse.act("edit", id=edited.record_id, fields={"donotbulkemail": True})
    dataverse.act("delete", id=deleted.record_id)
    dataverse.reset_stats()
    changes = list(connector.pull_resuming("contacts", None, link))
    changed = {r.record_id: r for r in _records(changes)}
    assert set(changed) == {opted.record_id, edited.record_id, deleted.record_id}
    assert changed[deleted.record_id].deleted and not changed[opted.record_id].deleted
    assert changed[opted.record_id].fields["donotbulkemail"] is True
    assert dataverse.requests(CONTACTS) == 1
    fresh = str(changes[-1].resume)
    assert fresh != link
    assert _records(list(connector.pull_resuming("contacts", None, fresh))) == []


def test_an_expired_change_link_reads_everything_again(dataverse: Environment) -> None:
    """A link past the organisation's retention is answered 0x80044352: the pull reads every
    contact again and leaves a new link, instead of failing every cycle."""
    connector = dataverse.connector()
    link = str(list(connector.pull("contacts", None))[-1].resume)
    dataverse.control.put("/_sandbox/org", json={"expire_change_tracking_in_days": 0})
    again = list(connector.pull_resuming("contacts", None, link))
    everyone = _records(list(dataverse.connector().pull("contacts", None)))
    assert len(_records(again)) == len(everyone) > 100
    assert again[-1].resume is not None


def test_a_link_made_for_another_query_is_not_followed(dataverse: Environment) -> None:
    """A link stored before the mapping selected other fields is ignored: everything is read."""
    connector = dataverse.connector()
    link = str(list(connector.pull("contacts", None))[-1].resume)
    forged = "0000000000000000|" + link.split("|", 1)[1]
    dataverse.reset_stats()
    pages = list(connector.pull_resuming("contacts", None, forged))
    assert len(_records(pages)) > 100 and dataverse.requests(CONTACTS) >= 2


def test_reads_by_id_ask_for_many_ids_in_one_call(dataverse: Environment) -> None:
    """Ids are read through one filtered request per 50; a missing one is left out."""
    connector = dataverse.connector()
    some = _records(list(connector.pull("contacts", None)))[:5]
    dataverse.reset_stats()
    read = connector.read("contacts", [r.record_id for r in some] + [MISSING_ID])
    assert sorted(r.record_id for r in read) == sorted(r.record_id for r in some)
    assert dataverse.requests(CONTACTS) == 1


def test_a_batch_settles_each_record_by_its_own_response_part(dataverse: Environment) -> None:
    """One $batch: a write lands, a missing contact is gone (and not created: If-Match), a value
    Dataverse refuses is permanent, a record failing inside the batch fails alone."""
    connector = dataverse.connector()
    records = _records(list(connector.pull("contacts", None)))
    landed, refused, failing = records[10], records[11], records[12]
    dataverse.faults(batch_failure_ids=[failing.record_id])
    dataverse.reset_stats()
    results = connector.write(
        "contacts",
        [
            FieldWrite(landed.record_id, {"donotbulkemail": True}),
            FieldWrite(MISSING_ID, {"donotbulkemail": True}),
            FieldWrite(refused.record_id, {"donotbulkemail": "not a boolean"}),
            FieldWrite(failing.record_id, {"donotbulkemail": True}),
        ],
    )
    ok, gone, bad, injected = results
    assert ok.ok and dataverse.contact(landed.record_id)["donotbulkemail"] is True
    assert gone.gone and not gone.ok
    assert dataverse.control.get("/_sandbox/contacts", params={"id": MISSING_ID}).status_code == 404
    assert not bad.ok and not bad.retryable and not bad.gone and "0x80060888" in (bad.error or "")
    assert not injected.ok
    assert dataverse.requests(BATCH) == 1


def test_an_expired_token_is_renewed_once_and_the_call_goes_on(dataverse: Environment) -> None:
    """Tokens invalidated mid-run: the next call gets a 401, fetches one new token, succeeds."""
    connector = dataverse.connector()
    first = connector.read("contacts", [MISSING_ID])
    assert first == []
    dataverse.faults(expire_tokens=True)
    dataverse.reset_stats()
    assert connector.read("contacts", [MISSING_ID]) == []
    assert dataverse.requests(TOKEN) == 1
    assert dataverse.requests(CONTACTS, 401) == 1 and dataverse.requests(CONTACTS, 200) == 1


def test_a_refused_client_secret_is_an_auth_error_that_never_shows_it(
    dataverse: Environment,
) -> None:
    """A wrong secret fails at the token endpoint, once, with the secret nowhere in the message."""
    secret = "wrong~secret.value_4242"
    connector = dataverse.connector(env={"DYNAMICS_CLIENT_SECRET": secret})
    dataverse.reset_stats()
    with pytest.raises(AuthError) as caught:
        connector.read("contacts", [MISSING_ID])
    assert secret not in str(caught.value)
    assert dataverse.requests(TOKEN) == 1 and dataverse.requests(CONTACTS) == 0


def test_service_protection_429s_are_waited_out(dataverse: Environment) -> None:
    """429 with Retry-After under the service-protection limits: waited for, then the page."""
    dataverse.faults(
        {"path": "/contacts$", "status": 429, "retry_after": "0.1", "times": 2, "method": "GET"}
    )
    dataverse.reset_stats()
    page = next(iter(dataverse.connector().pull("contacts", None)))
    assert len(page.records) == 100
    assert dataverse.requests(CONTACTS, 429) == 2 and dataverse.requests(CONTACTS, 200) == 1


def test_describe_reads_the_attribute_definitions(dataverse: Environment) -> None:
    """validate --live learns donotbulkemail is a writable Boolean from EntityDefinitions."""
    fields = {f.name: f for f in dataverse.connector().describe("contacts")}
    assert fields["donotbulkemail"].type == "Boolean" and fields["donotbulkemail"].writable
    assert not fields["contactid"].writable
