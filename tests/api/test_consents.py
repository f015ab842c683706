"""`POST /api/v1/consents` records through the rule, with the client's evidence and nothing
more; an `Idempotency-Key` makes retries record once; bad input is a 4xx that writes nothing."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from api.conftest import ApiServer, serving
from consent_sync.domain.model import Status
from consent_sync.store import Scope, Store
from support.paths import REPO
from support.store_builders import EMAIL as LINKED
from support.store_builders import SF, ingest, seen

EMAIL = "Ada.Lovelace@Example.com"
DENIAL: dict[str, Any] = {
    "email": EMAIL,
    "purpose": "email_marketing",
    "status": "denied",
    "evidence": {"collection_method": "unsubscribe_link", "jurisdiction": "EU"},
}


def _ledger_rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM ledger")).scalar_one())


def _stored_keys(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM idempotency_keys")).scalar_one())


def test_a_denial_is_ledgered_with_exactly_the_evidence_sent(api: ApiServer) -> None:
    """The ledger row carries source api:<token name> and the evidence as sent, nothing added."""
    response = api.post("/api/v1/consents", DENIAL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["recorded"], body["status"], len(body["ledger_seqs"])) == (True, "denied", 1)
    (row,) = api.store.views.subject(EMAIL).timeline
    assert row.source == "api:test-write"
    assert row.time_kind == "asserted"
    assert row.evidence == {
        "source": "api:test-write",
        "collection_method": "unsubscribe_link",
        "jurisdiction": "EU",
    }


def test_the_same_key_and_body_record_once_and_answer_the_same(api: ApiServer) -> None:
    """A retried request with its Idempotency-Key gets the first answer; one ledger row."""
    first = api.post("/api/v1/consents", DENIAL, **{"Idempotency-Key": "unsub-42"})
    again = api.post("/api/v1/consents", DENIAL, **{"Idempotency-Key": "unsub-42"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["recorded"] is True
    assert _ledger_rows(api.store) == 1


def test_keys_are_forgotten_after_a_day_and_not_before(api: ApiServer) -> None:
    """Housekeeping's prune keeps a key for 24 hours; after that the key is free again."""
    api.post("/api/v1/consents", DENIAL, **{"Idempotency-Key": "unsub-43"})
    assert api.store.tokens.prune_keys(datetime.now(UTC) + timedelta(hours=23)) == 0
    assert _stored_keys(api.store) == 1
    assert api.store.tokens.prune_keys(datetime.now(UTC) + timedelta(hours=25)) == 1
    assert _stored_keys(api.store) == 0


def test_concurrent_retries_with_one_key_record_once(api: ApiServer) -> None:
    """Eight simultaneous sends of one request and key: one ledger row, eight equal answers."""
    grant = {
        "email": EMAIL,
        "purpose": "sms_marketing",
        "status": "granted",
        "evidence": {"legal_basis": "consent", "notice_ref": "sms-terms-v2"},
    }

    def send(_: int) -> tuple[int, Any]:
        response = api.post("/api/v1/consents", grant, **{"Idempotency-Key": "signup-7"})
        return response.status_code, response.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert {code for code, _ in answers} == {200}
    assert all(body == answers[0][1] for _, body in answers)
    assert _ledger_rows(api.store) == 1


def test_the_same_key_with_another_body_is_refused(api: ApiServer) -> None:
    """A key reused for a different request: 422 idempotency_key_reused, nothing recorded."""
    assert api.post("/api/v1/consents", DENIAL, **{"Idempotency-Key": "k"}).status_code == 200
    other = {**DENIAL, "purpose": "phone_calls"}
    response = api.post("/api/v1/consents", other, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert _ledger_rows(api.store) == 1


def test_keys_belong_to_their_token(api: ApiServer) -> None:
    """Two clients using the same key string do not see each other's answers."""
    assert api.post("/api/v1/consents", DENIAL, **{"Idempotency-Key": "k"}).status_code == 200
    other = {**DENIAL, "purpose": "phone_calls"}
    response = api.post("/api/v1/consents", other, Scope.ADMIN, **{"Idempotency-Key": "k"})
    assert response.status_code == 200
    assert _ledger_rows(api.store) == 2


def test_a_grant_the_rule_refuses_is_422_with_the_reason_and_writes_nothing(
    api: ApiServer,
) -> None:
    """An SMS grant over a denial without evidence (require_evidence): refused, no row, no key;
    the same key then works once the evidence is there."""
    denial = {"email": EMAIL, "purpose": "sms_marketing", "status": "denied"}
    assert api.post("/api/v1/consents", denial).status_code == 200
    bare = {"email": EMAIL, "purpose": "sms_marketing", "status": "granted"}
    response = api.post("/api/v1/consents", bare, **{"Idempotency-Key": "regrant"})
    assert response.status_code == 422
    assert response.json()["code"] == "decision_refused"
    assert "evidence" in response.json()["message"]
    assert _ledger_rows(api.store) == 1
    assert _stored_keys(api.store) == 0
    proven = {**bare, "evidence": {"legal_basis": "consent", "note": "opted in by SMS keyword"}}
    accepted = api.post("/api/v1/consents", proven, **{"Idempotency-Key": "regrant"})
    assert accepted.status_code == 200, accepted.text
    assert api.store.views.subject(EMAIL).states[0].status == "granted"


def test_a_preference_centre_lifts_an_unsubscribe_only_when_grant_sources_name_it(
    store: Store, tmp_path: Path
) -> None:
    """email_marketing lets only HubSpot lift a denial; `api:<token name>` in grant_sources lets
    that API client (a preference centre, with the person's evidence) do it too, and no other."""
    for directory in ("connectors", "mappings"):
        shutil.copytree(REPO / directory, tmp_path / directory)
    purposes = tmp_path / "mappings" / "purposes.yaml"
    shipped = purposes.read_text()
    assert "grant_sources: [hubspot]" in shipped
    purposes.write_text(
        shipped.replace("grant_sources: [hubspot]", "grant_sources: [hubspot, api:test-write]")
    )
    regrant = {
        "email": EMAIL,
        "purpose": "email_marketing",
        "status": "granted",
        "evidence": {"legal_basis": "consent", "notice_ref": "privacy-2026-10"},
    }
    with serving(store, tmp_path) as api:
        assert api.post("/api/v1/consents", DENIAL).status_code == 200
        refused = api.post("/api/v1/consents", regrant, scope=Scope.ADMIN)
        assert (refused.status_code, refused.json()["code"]) == (422, "decision_refused")
        accepted = api.post("/api/v1/consents", regrant, scope=Scope.WRITE)
        assert accepted.status_code == 200, accepted.text
        assert api.store.views.subject(EMAIL).states[0].status == "granted"


def test_unknown_fields_are_refused_with_422_naming_them(api: ApiServer) -> None:
    """A misspelt evidence field is a 422 naming it, not evidence silently dropped."""
    body = {**DENIAL, "evidence": {"legal_bases": "consent"}}
    response = api.post("/api/v1/consents", body)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert [p["loc"] for p in problems] == [["body", "evidence", "legal_bases"]]
    assert _ledger_rows(api.store) == 0


def test_bad_values_are_4xx_with_stable_codes(api: ApiServer) -> None:
    """An invalid email, an unknown purpose, a future capture time, NUL, an oversize body."""
    cases = [
        ({**DENIAL, "email": "not an email"}, 422, "invalid_email"),
        ({**DENIAL, "purpose": "carrier_pigeons"}, 422, "unknown_purpose"),
        ({**DENIAL, "evidence": {"captured_at": "2999-01-01T00:00:00Z"}}, 422, "validation_failed"),
        ({**DENIAL, "evidence": {"note": "a\x00b"}}, 422, "validation_failed"),
        ({**DENIAL, "evidence": {"legal_basis": "because"}}, 422, "validation_failed"),
        ({**DENIAL, "evidence": {"note": "x" * 70_000}}, 413, "body_too_large"),
    ]
    for body, status, code in cases:
        response = api.post("/api/v1/consents", body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert _ledger_rows(api.store) == 0


def test_a_decision_that_queues_writes_wakes_the_pushers(api: ApiServer, store: Store) -> None:
    """Recording a denial for a linked person wakes the pushers; a no-op decision does not."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    body = {"email": LINKED, "purpose": "email_marketing", "status": "denied"}
    assert api.post("/api/v1/consents", body).json()["queued"] == 1
    assert api.woken == [1]
    assert api.post("/api/v1/consents", body).json()["recorded"] is False
    assert api.woken == [1]


def test_the_api_accepts_exactly_the_legal_bases_the_domain_knows() -> None:
    """The OpenAPI enum of legal bases is the domain's list, not a copy that can drift."""
    from typing import get_args

    from consent_sync.api.schemas import LegalBasis
    from consent_sync.domain.model import LEGAL_BASES

    assert set(get_args(LegalBasis)) == set(LEGAL_BASES)
