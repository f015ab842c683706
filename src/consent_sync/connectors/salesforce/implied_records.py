"""A revocation written to a Contact or Lead is recorded as Salesforce records one: the person's
ContactPointTypeConsent for that purpose, created OptOut where they have none (docs/design.md,
"Salesforce consent records").

A person's existing consent records are links of their own and get the revocation through the
outbox like any record. One the person does not have yet cannot be a link, so it is created
here, right after the Contact or Lead write that carried the revocation succeeded: for every
record written a denial of a purpose the consent mapping pushes, whose Individual has no
consent record of that purpose and channel. A Contact or Lead without an Individual gets one
only when the mapping says `create_individual: true`; otherwise its checkbox alone carries the
revocation. Each created record is reported with the result of the write it belongs to
(`WriteResult.created`), and the store links it to that record's subject with a shadow of
what was written: its first read is the echo of this write, even when the canonical state has
moved on meanwhile (an on-call's resolution must not be undone by a record consent-sync made).

This is record keeping beside a write that already succeeded: a failure here is logged (with
counts and Salesforce's error codes, never names or emails) and does not fail that write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from consent_sync.connectors.protocol import ConnectorError
from consent_sync.connectors.salesforce.composite import IDS_PER_QUERY
from consent_sync.connectors.salesforce.consent_model import ConsentModel
from consent_sync.connectors.salesforce.consent_records import ConsentEntry, recorded_state
from consent_sync.domain.model import Status
from consent_sync.domain.records import Created, Decided, FieldWrite, WriteResult

log = structlog.get_logger(__name__)

CONSENT_OBJECT = "ContactPointTypeConsent"
COLLECTION_LIMIT = 200  # records per composite/sobjects call
_NAME_MAX = 255


@dataclass(frozen=True, slots=True)
class ImpliedRecord:
    """A Contact or Lead field whose denial a consent record of `entry` also records."""

    denial: object  # the raw value that writes a denial to the field
    entry: ConsentEntry


#: object type (Contact, Lead) -> field -> the consent record its denial implies
ImpliedRecords = Mapping[str, Mapping[str, ImpliedRecord]]
_Wanted = dict[str, list[tuple[ConsentEntry, Decided | None]]]  # record id -> what it implies


class ImpliedRevocations:
    """Creates the consent records revocations written to Contacts and Leads imply."""

    def __init__(
        self, model: ConsentModel, implied: ImpliedRecords, *, create_individual: bool
    ) -> None:
        self._model = model
        self._implied = implied
        self._create_individual = create_individual
        self.created = 0  # consent records created so far (and Individuals, below)
        self.individuals_created = 0

    def written(
        self, object_type: str, writes: Sequence[FieldWrite], results: Sequence[WriteResult]
    ) -> dict[str, tuple[Created, ...]]:
        """After a write of `object_type`: record each accepted revocation it implies; returns
        the consent records created, per written record id."""
        fields = self._implied.get(object_type)
        if not fields:
            return {}
        accepted = {result.record_id for result in results if result.ok}
        wanted: _Wanted = {}
        for write in writes:
            if write.record_id not in accepted:
                continue
            for name, value in write.values.items():
                implied = fields.get(name)
                if implied is not None and _same(value, implied.denial):
                    entry = (implied.entry, write.decided.get(name))
                    wanted.setdefault(write.record_id, []).append(entry)
        if not wanted:
            return {}
        try:
            made = self._record(object_type, wanted)
        except ConnectorError as exc:
            log.warning(
                "consent records for revocations not created; the written fields hold them",
                system=self._model.system,
                object_type=object_type,
                records=len(wanted),
                error=str(exc),
            )
            return {}
        created = sum(len(records) for records in made.values())
        self.created += created
        if created:
            log.info(
                "consent records created for revocations",
                system=self._model.system,
                object_type=object_type,
                created=created,
            )
        return made

    def _record(self, object_type: str, wanted: _Wanted) -> dict[str, tuple[Created, ...]]:
        people = self._people(object_type, sorted(wanted))
        parties = {rid: person[0] for rid, person in people.items() if person[0]}
        lacking = [rid for rid in sorted(wanted) if rid in people and not people[rid][0]]
        if lacking and self._create_individual:
            parties |= self._individuals(object_type, lacking, people)
        elif lacking:
            log.info(
                "revoked records without an Individual: no consent record created "
                "(create_individual is off)",
                system=self._model.system,
                object_type=object_type,
                count=len(lacking),
            )
        purpose_ids = self._model.purpose_ids()
        existing = self._existing(set(parties.values()), sorted(set(purpose_ids.values())))
        now = self._model.now()
        records: list[dict[str, Any]] = []
        origins: list[tuple[str, str]] = []  # per record created: the written record, purpose
        for record_id, entries in wanted.items():
            party = parties.get(record_id)
            if party is None:
                continue
            for entry, decided in entries:
                purpose_id = purpose_ids.get(entry.data_use_purpose.casefold())
                key = (party, purpose_id or "", entry.contact_point_type)
                if purpose_id is None or key in existing:
                    continue
                existing.add(key)
                state = recorded_state("OptOut", decided, now)
                records.append(
                    {
                        "attributes": {"type": CONSENT_OBJECT},
                        "Name": f"{entry.data_use_purpose} ({entry.contact_point_type})"[
                            :_NAME_MAX
                        ],
                        "PartyId": party,
                        "DataUsePurposeId": purpose_id,
                        "ContactPointType": entry.contact_point_type,
                        **{k: v for k, v in state.items() if v is not None},
                    }
                )
                origins.append((record_id, entry.purpose))
        made: dict[str, list[Created]] = {}
        new_ids = self._batches("POST", CONSENT_OBJECT, records)
        for (record_id, purpose), new in zip(origins, new_ids, strict=True):
            if new:
                created = Created(CONSENT_OBJECT, new, purpose, Status.DENIED)
                made.setdefault(record_id, []).append(created)
        return {record_id: tuple(found) for record_id, found in made.items()}

    def _people(
        self, object_type: str, record_ids: Sequence[str]
    ) -> dict[str, tuple[str | None, str | None, str | None]]:
        """Each record's IndividualId, FirstName and LastName."""
        out: dict[str, tuple[str | None, str | None, str | None]] = {}
        queries = [
            format_soql(
                f"SELECT Id, IndividualId, FirstName, LastName FROM {object_type} "  # noqa: S608
                "WHERE Id IN {ids}",
                ids=list(record_ids[start : start + IDS_PER_QUERY]),
            )
            for start in range(0, len(record_ids), IDS_PER_QUERY)
        ]
        for rows in self._model.query_many(object_type, queries):
            for row in rows:
                if isinstance(row.get("Id"), str):
                    out[row["Id"]] = (_text(row, "IndividualId"), *_names(row))
        return out

    def _individuals(
        self,
        object_type: str,
        record_ids: Sequence[str],
        people: Mapping[str, tuple[str | None, str | None, str | None]],
    ) -> dict[str, str]:
        """New Individuals for these records, each linked from its record; record id -> Id."""
        records = [
            {
                "attributes": {"type": "Individual"},
                "FirstName": people[rid][1],
                "LastName": people[rid][2] or "(unknown)",
            }
            for rid in record_ids
        ]
        made = dict(zip(record_ids, self._batches("POST", "Individual", records), strict=True))
        made = {rid: new for rid, new in made.items() if new}
        self.individuals_created += len(made)
        linked = self._batches(
            "PATCH",
            object_type,
            [
                {"attributes": {"type": object_type}, "id": rid, "IndividualId": new}
                for rid, new in made.items()
            ],
        )
        return {rid: new for (rid, new), ok in zip(made.items(), linked, strict=True) if ok and new}

    def _existing(self, parties: set[str], purpose_ids: list[str]) -> set[tuple[str, str, str]]:
        """(PartyId, DataUsePurposeId, ContactPointType) of the consent records these
        Individuals already have."""
        found: set[tuple[str, str, str]] = set()
        ordered = sorted(parties)
        if not purpose_ids:
            return found
        queries = [
            format_soql(
                "SELECT Id, PartyId, DataUsePurposeId, ContactPointType "
                "FROM ContactPointTypeConsent WHERE PartyId IN {parties} "
                "AND DataUsePurposeId IN {purposes}",
                parties=ordered[start : start + IDS_PER_QUERY],
                purposes=purpose_ids,
            )
            for start in range(0, len(ordered), IDS_PER_QUERY)
        ]
        for rows in self._model.query_many(CONSENT_OBJECT, queries):
            for row in rows:
                key = tuple(row.get(k) for k in ("PartyId", "DataUsePurposeId", "ContactPointType"))
                if all(isinstance(k, str) for k in key):
                    found.add((str(key[0]), str(key[1]), str(key[2])))
        return found

    def _batches(
        self, method: str, object_type: str, records: list[dict[str, Any]]
    ) -> list[str | None]:
        """POST (create) or PATCH (update) composite/sobjects, 200 a call: each record's Id,
        None where Salesforce refused it."""
        ids: list[str | None] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            ids += self._answered(method, object_type, records[start : start + COLLECTION_LIMIT])
        return ids

    def _answered(
        self, method: str, object_type: str, records: list[dict[str, Any]]
    ) -> list[str | None]:
        if not records:
            return []
        body = {"allOrNone": False, "records": records}

        def send(sf: Salesforce) -> Any:
            return sf.restful("composite/sobjects", method=method, json=body)

        answer = self._model.call(f"composite {method.lower()}", send, object_type)
        results = answer if isinstance(answer, list) else []
        ids: list[str | None] = []
        refused: set[str] = set()
        for position in range(len(records)):
            outcome = results[position] if position < len(results) else None
            ok = isinstance(outcome, dict) and outcome.get("success") is True
            ids.append(str(outcome.get("id") or "ok") if ok and isinstance(outcome, dict) else None)
            if not ok:
                errors = outcome.get("errors") if isinstance(outcome, dict) else None
                codes = [e.get("statusCode") for e in errors or [] if isinstance(e, dict)]
                refused |= {str(c) for c in codes} or {"no result"}
        if refused:
            log.warning(
                "Salesforce refused records consent-sync created for revocations",
                system=self._model.system,
                object_type=object_type,
                refused=ids.count(None),
                codes=sorted(refused),
            )
        return ids


def _same(value: object, denial: object) -> bool:
    return type(value) is type(denial) and value == denial


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if isinstance(value, str) and value else None


def _names(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return _text(row, "FirstName"), _text(row, "LastName")
