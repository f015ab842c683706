"""The official PowerPlatform-Dataverse-Client against the emulator, unmodified.

The client takes any HTTPS base URL and an azure-core `TokenCredential`; it speaks through
`requests`, so the sandbox's private CA is trusted through `REQUESTS_CA_BUNDLE`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError

from support.dynamics_emulator import Sandbox, SandboxCredential

CONTACTS = 120


@pytest.fixture
def client(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataverseClient]:
    """DataverseClient on the emulator's URL with a credential from its token endpoint."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_file))
    with DataverseClient(sandbox.base_url, SandboxCredential(sandbox)) as dataverse:
        yield dataverse


def test_list_pages_through_every_contact_with_a_filter(client: DataverseClient) -> None:
    """records.list with page_size follows every nextLink; the filter keeps only opt-outs."""
    every = client.records.list("contact", select=["emailaddress1"], page_size=25)
    assert len(every) == CONTACTS
    opted_out = client.records.list(
        "contact", select=["donotbulkemail"], filter="donotbulkemail eq true", page_size=25
    )
    assert 0 < len(opted_out) < CONTACTS
    assert all(record["donotbulkemail"] is True for record in opted_out)


def test_get_and_update_one_contact(client: DataverseClient) -> None:
    """records.retrieve by id reads it; records.update (PATCH, If-Match: *) ticks the box."""
    first = client.records.list("contact", select=["contactid"], top=1)[0]
    contact_id = first["contactid"]
    client.records.update("contact", contact_id, {"donotphone": True})
    record = client.records.retrieve("contact", contact_id, select=["donotphone"])
    assert record["donotphone"] is True


def test_batch_updates_answer_per_operation(client: DataverseClient) -> None:
    """A client batch with continue_on_error gets one result per update, the missing one 404."""
    ids = [r["contactid"] for r in client.records.list("contact", select=["contactid"], top=2)]
    batch = client.batch.new()
    batch.records.update("contact", ids[0], {"donotfax": True})
    batch.records.update("contact", str(uuid.uuid4()), {"donotfax": True})
    batch.records.update("contact", ids[1], {"donotfax": True})
    result = batch.execute(continue_on_error=True)
    assert [r.status_code for r in result.responses] == [204, 404, 204]
    assert result.responses[1].error_code == "0x80040217"


def test_table_metadata_describes_the_consent_columns(client: DataverseClient) -> None:
    """tables.get and list_columns read EntityDefinitions: donotbulkemail is a writable Boolean."""
    info = client.tables.get("contact")
    assert info is not None and info["entity_set_name"] == "contacts"
    columns = {c["LogicalName"]: c for c in client.tables.list_columns("contact")}
    assert columns["donotbulkemail"]["AttributeType"] == "Boolean"
    assert columns["donotbulkemail"]["IsValidForUpdate"] is True
    assert columns["modifiedon"]["IsValidForUpdate"] is False


def test_service_protection_429_reaches_the_client_with_retry_after(
    sandbox: Sandbox, client: DataverseClient
) -> None:
    """Over the limit, the client raises HttpError 429 carrying the Retry-After seconds."""
    client.records.list("contact", select=["contactid"], top=1)  # resolves the entity set
    with sandbox.control() as control:
        control.put("/_sandbox/limits", json={"requests_per_window": 1, "window_seconds": 60})
    client.records.list("contact", select=["contactid"], top=1)
    with pytest.raises(HttpError) as caught:
        client.records.list("contact", select=["contactid"], top=1)
    assert caught.value.status_code == 429
    assert caught.value.details["retry_after"] >= 1
