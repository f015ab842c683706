"""The consent-records objects of one Salesforce connector: which records a read asks for, whose
they are, and what a write sends (docs/design.md, "Salesforce consent records").

Reads ask only for records of mapped DataUsePurposes (`DataUsePurposeId IN (...)`, the ids
looked up once from their names and again on every full read). Each page's people are found in
batches, never one query per record: a ContactPointTypeConsent's Individual through the Contacts
and Leads whose `IndividualId` it is (two queries per 1,000 Individuals), a ContactPointConsent's
address through its ContactPointEmail (one query per 1,000), five queries a Composite call
(`composite.py`): one API call per 2,500 Individuals or 5,000 addresses. Every query goes
through the connector's calls (retries, re-authentication, the call count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from consent_sync.connectors.protocol import TransientError
from consent_sync.connectors.salesforce.composite import IDS_PER_QUERY, Call, Rows, query_many
from consent_sync.connectors.salesforce.consent_records import (
    ConsentEntry,
    ConsentObject,
    read_state,
    recorded_state,
)
from consent_sync.connectors.salesforce.consent_windows import WindowEdges, edge_condition
from consent_sync.connectors.salesforce.results import is_record_id, record_from_row
from consent_sync.domain.records import FieldWrite, Page, Record, Unreadable, WriteResult

log = structlog.get_logger(__name__)

PEOPLE = ("Contact", "Lead")  # the objects whose IndividualId names a person's Individual
#: Individuals per query of their Contacts or Leads: 2,000 ids are about 42,000 characters of
#: SOQL (of the 100,000 a statement may hold), and most Individuals have one Contact, so most
#: such queries answer in one page of 2,000 rows (composite.py).
PEOPLE_PER_QUERY = 2000
#: The field a consent record's person's email goes into (the mapping's derived match key).
EMAIL_FIELD = "Email"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConsentModel:
    """Reads and writes the configured consent-records objects through one connector's calls."""

    def __init__(
        self,
        objects: Mapping[str, ConsentObject],
        call: Call,
        *,
        system: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.objects = dict(objects)
        self.call = call
        self.system = system
        self._clock = clock
        # DataUsePurpose Id -> (Name, IsActive), read once (again on each full read)
        self._catalog: dict[str, tuple[str, bool]] | None = None
        self.edges = WindowEdges()

    def handles(self, object_type: str) -> bool:
        """Whether `object_type` is a consent-records object of this connector."""
        return object_type in self.objects

    def now(self) -> datetime:
        """The time the effective windows are read at and decisions recorded at."""
        return self._clock()

    # -- what a read asks for -------------------------------------------------------------

    def data_use_purposes(self, *, refresh: bool = False) -> dict[str, tuple[str, bool]]:
        """Every DataUsePurpose of the org: Id -> (Name, IsActive). One query, then remembered."""
        if self._catalog is None or refresh:

            def query(sf: Salesforce) -> Any:
                return sf.query_all("SELECT Id, Name, IsActive FROM DataUsePurpose")

            answer = self.call("data use purposes", query, "DataUsePurpose")
            catalog: dict[str, tuple[str, bool]] = {}
            for row in self._rows(answer, "DataUsePurpose"):
                record_id, name = row.get("Id"), row.get("Name")
                if isinstance(record_id, str) and isinstance(name, str):
                    catalog[record_id] = (name, row.get("IsActive") is not False)
            self._catalog = catalog
        return self._catalog

    def purpose_ids(self) -> dict[str, str]:
        """The Id of every DataUsePurpose, by its name case-folded (the first of two alike)."""
        named: dict[str, str] = {}
        for record_id, (name, _) in sorted(self.data_use_purposes().items()):
            named.setdefault(name.casefold(), record_id)
        return named

    def condition(self, object_type: str) -> str:
        """The SOQL condition limiting a read to records of mapped DataUsePurposes; one that
        matches nothing when none of the mapped names exists in the org."""
        wanted = {e.data_use_purpose.casefold() for e in self.objects[object_type].entries}
        ids = sorted(
            record_id
            for record_id, (name, _) in self.data_use_purposes().items()
            if name.casefold() in wanted
        )
        if not ids:
            log.warning(
                "no mapped data use purpose exists in the org; nothing to read",
                system=self.system,
                object_type=object_type,
            )
            return "Id = null"
        return format_soql("DataUsePurposeId IN {ids}", ids=ids)

    def refreshed(
        self, pages: Iterable[Page], object_type: str, since: datetime | None, names: str
    ) -> Iterator[Page]:
        """Pages of a pull with each record's person and state resolved, then, when due, the
        records whose window opened or closed since the last look (`consent_windows.py`).

        A full read (`since` None) re-reads the catalog of purposes first (it must see purposes
        added since) and is a look of its own.
        """
        started = self.now()
        if since is None:
            self.data_use_purposes(refresh=True)
        delivered: set[str] = set()
        for page in pages:
            delivered.update(r.record_id for r in page.records)
            records = self.resolve(object_type, page.records)
            yield Page(records, page.watermark, page.resume, as_of=page.as_of)
        start = self.edges.due(object_type, since, started) if since is not None else None
        if start is not None:
            soql = (
                f"SELECT {names} FROM {object_type} "  # noqa: S608
                f"WHERE {self.condition(object_type)} AND {edge_condition(start, started)} "
                "ORDER BY Id"
            )
            found = [r for r in self._records(object_type, soql) if r.record_id not in delivered]
            if found:
                log.info(
                    "consent windows opened or closed since the last look",
                    system=self.system,
                    object_type=object_type,
                    records=len(found),
                )
                yield Page(self.resolve(object_type, found), None)
                yield Page([], None)  # asked for once the page before is surely committed
        self.edges.looked(object_type, started)

    def _records(self, object_type: str, soql: str) -> list[Record]:
        """Every record a query answers, page by page, as rows become records."""

        def first(sf: Salesforce) -> Any:
            return sf.query(soql)

        answer = self.call("query", first, object_type)
        records = [record_from_row(object_type, row) for row in self._rows(answer, object_type)]
        while isinstance(answer, dict) and not answer.get("done", True):
            url = answer.get("nextRecordsUrl")
            if not isinstance(url, str):
                break

            def more(sf: Salesforce, url: str = url) -> Any:
                return sf.query_more(url, identifier_is_url=True)

            answer = self.call("query_more", more, object_type)
            records += [record_from_row(object_type, r) for r in self._rows(answer, object_type)]
        return records

    # -- records ---------------------------------------------------------------------------

    def resolve(self, object_type: str, records: Sequence[Record]) -> list[Record]:
        """Queried rows as consent records: the state read into the entry's derived field, the
        person's email found in batches; deleted and broken records pass through."""
        obj = self.objects[object_type]
        now = self._clock()
        catalog = self.data_use_purposes()
        pending: list[tuple[Record, ConsentEntry]] = []
        out: list[Record | None] = []
        for record in records:
            entry = self._entry(obj, record, catalog) if record.readable else None
            if entry is None or record.deleted:
                out.append(_bare(record))
                continue
            pending.append((record, entry))
            out.append(None)
        owners = {
            owner
            for record, _ in pending
            if isinstance(owner := record.fields.get(obj.owner_field), str) and is_record_id(owner)
        }
        emails = self._emails(obj, owners)
        resolved = iter(
            _consent_record(record, entry, obj, emails, now) for record, entry in pending
        )
        return [r if r is not None else next(resolved) for r in out]

    def _entry(
        self, obj: ConsentObject, record: Record, catalog: Mapping[str, tuple[str, bool]]
    ) -> ConsentEntry | None:
        purpose_id = record.fields.get("DataUsePurposeId")
        named = catalog.get(purpose_id) if isinstance(purpose_id, str) else None
        if named is None:
            return None
        channel = record.fields.get("ContactPointType", "Email")
        if obj.object_type == "ContactPointConsent":
            channel = "Email"  # a ContactPointConsent speaks for its contact point's channel
        return obj.entry(named[0], channel) if isinstance(channel, str) else None

    def _emails(self, obj: ConsentObject, owners: set[str]) -> dict[str, str | None]:
        """Each owner's email: an Individual's through its Contacts, else its Leads (the first
        one by Id when they disagree), or a ContactPointEmail's own address.

        Leads are asked only about the Individuals no Contact gave an email, and a query names
        PEOPLE_PER_QUERY of them: most Individuals cost a fifth of a query in one Composite
        call of five.
        """
        found: dict[str, list[str]] = {}
        if obj.object_type == "ContactPointConsent":
            addresses = "SELECT Id, EmailAddress FROM ContactPointEmail WHERE Id IN {ids}"
            queries = [
                format_soql(addresses, ids=chunk) for chunk in _chunks(owners, IDS_PER_QUERY)
            ]
            for rows in self.query_many("ContactPointEmail", queries):
                for row in rows:
                    _collect(found, row.get("Id"), row.get("EmailAddress"))
        else:
            asking = owners
            for people in PEOPLE:
                queries = [
                    format_soql(
                        f"SELECT Id, IndividualId, Email FROM {people} "  # noqa: S608
                        "WHERE IndividualId IN {ids} ORDER BY Id",
                        ids=chunk,
                    )
                    for chunk in _chunks(asking, PEOPLE_PER_QUERY)
                ]
                for rows in self.query_many(obj.object_type, queries):
                    for row in rows:
                        _collect(found, row.get("IndividualId"), row.get("Email"))
                asking = asking - found.keys()
        ambiguous = sum(1 for emails in found.values() if len({e.casefold() for e in emails}) > 1)
        if ambiguous:
            log.warning(
                "individuals whose contacts (or leads) hold different emails: the first is used",
                system=self.system,
                object_type=obj.object_type,
                count=ambiguous,
            )
        return {owner: (emails[0] if emails else None) for owner, emails in found.items()}

    def query_many(self, object_type: str, queries: Sequence[str]) -> list[Rows]:
        """Every row each SOQL query answers, query by query, five queries an API call
        (`composite.py`), through the connector's calls."""
        return query_many(
            self.call, queries, what="query", object_type=object_type, system=self.system
        )

    def _rows(self, answer: Any, object_type: str) -> list[dict[str, Any]]:
        """The records of a query answer; one without a list of them is malformed (retried)."""
        rows = answer.get("records") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise TransientError(
                "query: malformed response body (no list of records)",
                system=self.system,
                object_type=object_type,
            )
        return [row for row in rows if isinstance(row, dict)]

    # -- writes ----------------------------------------------------------------------------

    def outgoing(
        self, object_type: str, writes: Sequence[FieldWrite]
    ) -> tuple[list[FieldWrite], dict[str, WriteResult]]:
        """The writes as the fields Salesforce records a decision in, and the ones that are
        not sent: a grant without a legal basis (no consent record is written OptIn without
        one), a state that is not a decision."""
        if object_type not in self.objects:
            return list(writes), {}
        now = self._clock()
        sendable: list[FieldWrite] = []
        refused: dict[str, WriteResult] = {}
        for write in writes:
            states = list(write.values.items())
            if len(states) != 1 or states[0][1] not in ("OptIn", "OptOut"):
                shown = ", ".join(f"{k}={v!r}" for k, v in states)
                refused[write.record_id] = WriteResult(
                    write.record_id, False, f"a consent record records OptIn or OptOut, not {shown}"
                )
                continue
            field, status = states[0]
            if status == "OptIn" and not write.legal_basis:
                refused[write.record_id] = WriteResult(
                    write.record_id,
                    False,
                    "a consent record is written OptIn only for a grant with a legal basis; "
                    "this grant has none",
                    unrepresentable=True,
                )
                continue
            values = recorded_state(str(status), write.decided.get(field), now)
            sendable.append(FieldWrite(write.record_id, values, write.legal_basis))
        return sendable, refused


def _consent_record(
    record: Record,
    entry: ConsentEntry,
    obj: ConsentObject,
    emails: Mapping[str, str | None],
    now: datetime,
) -> Record:
    owner = record.fields.get(obj.owner_field)
    email = emails.get(owner) if isinstance(owner, str) else None
    state = read_state(record.fields, entry, record.modified_at, now)
    fields: dict[str, Any] = {EMAIL_FIELD: email}
    unreadable: dict[str, Unreadable] = {}
    if state.problem is not None:
        unreadable[entry.field] = state.problem
    else:
        fields[entry.field] = state.raw
    return Record(
        record.object_type,
        record.record_id,
        fields,
        record.modified_at,
        field_times={entry.field: state.decided_at} if state.decided_at is not None else {},
        field_evidence={entry.field: state.evidence} if state.problem is None else {},
        unreadable=unreadable,
    )


def _bare(record: Record) -> Record:
    """A record with nothing mapped in it (deleted, broken, or of an unmapped purpose)."""
    if not record.fields:
        return record
    return Record(
        record.object_type,
        record.record_id,
        {},
        record.modified_at,
        deleted=record.deleted,
        unreadable=record.unreadable,
    )


def _chunks(ids: set[str], size: int) -> list[list[str]]:
    ordered = sorted(ids)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _collect(found: dict[str, list[str]], owner: object, email: object) -> None:
    if isinstance(owner, str) and isinstance(email, str) and email.strip():
        found.setdefault(owner, []).append(email)
