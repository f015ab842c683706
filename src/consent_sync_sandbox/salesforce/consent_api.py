"""The Consent API: `GET /consent/action/{email|phone|fax}?ids=...`, least permissive wins.

As Salesforce documents it ("Compile Consent Settings", REST API guide): for each id (an email
address, or a Contact, Lead or Individual id) the answer aggregates every live Contact and Lead
with that email, their checkbox (HasOptedOutOfEmail, DoNotCall, HasOptedOutOfFax) and, for email
and phone, the ContactPointTypeConsent records of their Individuals for that channel (optionally
only those whose DataUsePurpose.Name is `purpose`), judged at `datetime` (now by default): one
whose EffectiveFrom lies ahead is not consulted yet, and one whose EffectiveTo has
passed can no longer let one proceed. Any ticked box, OptOut or lapsed decision means false; so
does finding nothing at all. `policy=requireExplicitConsent` asks for an OptIn in force as well.
docs/sandboxes.md records how the emulator reads what the guide leaves open.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.objects import (
    CONTACT,
    CONTACT_POINT_TYPE_CONSENT,
    DATA_USE_PURPOSE,
    INDIVIDUAL,
    LEAD,
)
from consent_sync_sandbox.salesforce.org import Org, not_found
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    fold_text,
    id_sequence,
    normalize_id,
    to_ms,
)
from consent_sync_sandbox.salesforce.store import Row, Store
from consent_sync_sandbox.salesforce.writes import parse_datetime

#: action -> (the checkbox consulted on Contact and Lead, ContactPointType consulted or None).
ACTIONS = {
    "email": ("HasOptedOutOfEmail", "Email"),
    "phone": ("DoNotCall", "Phone"),
    "fax": ("HasOptedOutOfFax", None),
}
MAX_IDS_LENGTH = 16_000  # "The URL total length is limited to 16,000 characters"
_STATUS = {"OptIn": "opt_in", "OptOut": "opt_out"}
INFO_NOT_FOUND = "INFO_NOT_FOUND"
Answer = dict[str, Any]


def _lookup(spec: SObjectSpec, name: str) -> FieldSpec:
    found = spec.field(name)
    if found is None:
        raise KeyError(f"{spec.name}.{name}")
    return found


_INDIVIDUAL_OF = {spec.name: _lookup(spec, "IndividualId") for spec in (CONTACT, LEAD)}
_PARTY = _lookup(CONTACT_POINT_TYPE_CONSENT, "PartyId")


@dataclass
class Verdict:
    """What the records say about one id: a denial, an explicit opt-in, or neither."""

    found: bool = False
    denied: bool = False
    opted_in: bool = False
    explanation: list[dict[str, str]] = field(default_factory=list)


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class ConsentQuery:
    """One Consent API request, resolved against the org's records."""

    store: Store
    action: str
    purpose: str | None
    at_ms: int

    def _records_of(self, key: str) -> tuple[list[tuple[SObjectSpec, Row]], set[int]] | None:
        """The live Contacts and Leads an id names, and their Individuals; None: invalid id."""
        if "@" in key:
            found = [
                (spec, row)
                for spec in (CONTACT, LEAD)
                for row in self.store.fetch(
                    spec, self.store.find_by_email(spec, key, live_only=True)
                )
            ]
            return found, {int(r["IndividualId"]) for _, r in found if r["IndividualId"]}
        normalized = normalize_id(key)
        if normalized is None:
            return None
        for spec in (CONTACT, LEAD):
            seq = id_sequence(spec, normalized)
            if seq is not None:
                row = self.store.get(spec, seq)
                if row is None or row["IsDeleted"]:
                    return [], set()
                if row["Email"]:
                    return self._records_of(row["Email"])  # the email action: all its records
                own = {int(row["IndividualId"])} if row["IndividualId"] else set()
                return [(spec, row)], own
        seq = id_sequence(INDIVIDUAL, normalized)
        if seq is None:
            return None
        linked = [
            (spec, row)
            for spec in (CONTACT, LEAD)
            for row in self.store.referencing(spec, _INDIVIDUAL_OF[spec.name], [seq])
        ]
        individual = self.store.get(INDIVIDUAL, seq)
        return linked, set() if individual is None or individual["IsDeleted"] else {seq}

    def _started(self, record: Row) -> bool:
        return record["EffectiveFrom"] is None or record["EffectiveFrom"] <= self.at_ms

    def _ended(self, record: Row) -> bool:
        return record["EffectiveTo"] is not None and record["EffectiveTo"] <= self.at_ms

    def verdict(self, key: str) -> Verdict | None:
        """The consulted values for `key`; None if it is neither an email nor a known id type."""
        resolved = self._records_of(key)
        if resolved is None:
            return None
        records, individuals = resolved
        box, channel = ACTIONS[self.action]
        verdict = Verdict(found=bool(records))
        for spec, row in records:
            ticked = bool(row[box])
            verdict.denied |= ticked
            verdict.explanation.append(
                {
                    "objectConsulted": spec.name,
                    "field": box,
                    "recordId": row["Id"],
                    "value": _flag(ticked),
                }
            )
        if channel is None or not individuals:
            return verdict
        consents = self.store.referencing(CONTACT_POINT_TYPE_CONSENT, _PARTY, sorted(individuals))
        wanted = sorted({int(r["DataUsePurposeId"]) for r in consents if r["DataUsePurposeId"]})
        names = {
            id_sequence(DATA_USE_PURPOSE, r["Id"]): str(r["Name"])
            for r in self.store.fetch(DATA_USE_PURPOSE, wanted)
            if not r["IsDeleted"]
        }
        for record in consents:
            purpose_id = record["DataUsePurposeId"]
            name = None if purpose_id is None else names.get(int(purpose_id))
            if record["ContactPointType"] != channel or not self._started(record):
                continue  # a decision not yet in force says nothing yet
            if self.purpose is not None and (
                name is None or fold_text(name) != fold_text(self.purpose)
            ):
                continue
            status = record["PrivacyConsentStatus"]
            if status not in ("OptIn", "OptOut"):
                continue  # Seen / NotSeen: nobody decided
            # Outside its time range a decision cannot let one proceed: a lapsed opt-in is no
            # consent, and least permissive keeps a lapsed opt-out a no.
            denies = status == "OptOut" or self._ended(record)
            verdict.found = True
            verdict.denied |= denies
            verdict.opted_in |= not denies
            verdict.explanation.append(
                {
                    "objectConsulted": CONTACT_POINT_TYPE_CONSENT.name,
                    "status": _STATUS[status],
                    "purpose": name or "",
                    "recordId": record["Id"],
                    "value": _flag(not denies),
                }
            )
        return verdict


def _answer(action: str, verdict: Verdict | None, *, explicit: bool, verbose: bool) -> Answer:
    """One id's entry: result, proceed and, if verbose, what was consulted."""
    result_key = f"{action}Result"
    if verdict is None:
        return {"result": "INVALID_ID", "proceed": {action: "false", result_key: "INVALID_ID"}}
    if not verdict.found:
        return {"result": INFO_NOT_FOUND, "proceed": {action: "false", result_key: INFO_NOT_FOUND}}
    body: Answer = {"result": "Success"}
    if explicit and not verdict.denied and not verdict.opted_in:
        body["proceed"] = {action: "false", result_key: "infoNotFound"}
    else:
        body["proceed"] = {action: _flag(not verdict.denied), result_key: "Success"}
    if verbose:
        body["explanation"] = verdict.explanation
    return body


def _aggregate(action: str, answers: list[Answer], *, verbose: bool) -> Answer:
    """aggregatedConsent: one answer, false if any id's is false."""
    proceed = all(a["proceed"][action] == "true" for a in answers)
    body: Answer = {
        "result": "Success",
        "proceed": {action: _flag(proceed), f"{action}Result": "Success"},
    }
    if verbose:
        body["explanation"] = [e for a in answers for e in a.get("explanation", [])]
    return body


def _truthy(value: str | None) -> bool:
    """`aggregatedConsent` alone means true, as the guide says."""
    return value is not None and value.strip().lower() in ("", "true")


def add_consent_routes(router: APIRouter, org: Org) -> None:
    """Mount `/consent/action/{action}` on the versioned API router (session and quota)."""

    def compile_consent(
        action: str,
        ids: str | None = None,
        aggregated: Annotated[str | None, Query(alias="aggregatedConsent")] = None,
        purpose: str | None = None,
        moment: Annotated[str | None, Query(alias="datetime")] = None,
        policy: str | None = None,
        verbose: str | None = None,
    ) -> Response:
        if action not in ACTIONS:
            raise not_found()
        if not ids or not ids.strip():
            raise SalesforceError(
                400, "MISSING_ARGUMENT", "ids: a comma-separated list is required"
            )
        if len(ids) > MAX_IDS_LENGTH:
            raise SalesforceError(414, "URI_TOO_LONG", "The URL is limited to 16,000 characters")
        at = int(time.time() * 1000)
        if moment is not None:
            parsed = parse_datetime(moment.replace(" ", "+"))
            if parsed is None:
                raise SalesforceError(400, "INVALID_PARAMETER_VALUE", f"Invalid datetime: {moment}")
            at = to_ms(parsed)
        query = ConsentQuery(org.store, action, purpose, at)
        keys = [k.strip() for k in ids.split(",") if k.strip()]
        explicit = (policy or "").strip() == "requireExplicitConsent"
        wants = _truthy(verbose)
        with org.store.transaction():
            verdicts = {key: query.verdict(key) for key in keys}
        answers = {
            key: _answer(action, verdict, explicit=explicit, verbose=wants)
            for key, verdict in verdicts.items()
        }
        if _truthy(aggregated):
            answers = {",".join(keys): _aggregate(action, list(answers.values()), verbose=wants)}
        body = answers
        return Response(json.dumps(body), media_type="application/json;charset=UTF-8")

    for path in ("/consent/action/{action}", "/consent/action/{action}/"):
        router.add_api_route(
            path, compile_consent, methods=["GET"], include_in_schema=path[-1] != "/"
        )
