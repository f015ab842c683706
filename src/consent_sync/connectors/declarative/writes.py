"""Writing records as a stream's `write` says: one request per record, JSON batches judged item
by item, or OData `$batch` (docs/connectors.md, "write").

A batch refused as a whole with a permanent error is split in halves and sent again, down to the
one record refused, so one bad record never dead-letters a batch of good ones. A batch that stays
unreachable after the retry layer is reported retryable, record by record, and the batches
already written keep their results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consent_sync.config.declarative import Action, ItemResults, Stream, WriteSpec
from consent_sync.config.declarative_paths import MISSING, parse_path
from consent_sync.config.declarative_templates import (
    OMIT,
    TemplateProblem,
    fill_path,
    render_value,
    template_names,
)
from consent_sync.connectors.declarative.classify import classify, classify_item
from consent_sync.connectors.declarative.odata import (
    MalformedBatch,
    PartRequest,
    batch_body,
    batch_responses,
)
from consent_sync.connectors.declarative.transport import (
    NotRepresentable,
    RecordGone,
    Transport,
)
from consent_sync.connectors.protocol import (
    AuthError,
    PermanentError,
    QuotaExhausted,
    TransientError,
)
from consent_sync.domain.records import FieldWrite, WriteResult

_Send = Callable[[list[FieldWrite]], dict[str, WriteResult]]


class Writer:
    """Writes one stream's records through the transport."""

    def __init__(
        self, transport: Transport, object_type: str, stream: Stream, vars: Mapping[str, str]
    ) -> None:
        if stream.write is None:
            raise PermanentError(f"{object_type} has no write", system=transport.system)
        self.transport = transport
        self.object_type = object_type
        self.spec: WriteSpec = stream.write
        self.vars = dict(vars)
        self.paths = {name: f.path or parse_path(name) for name, f in stream.fields.items()}
        self.needs_email = "email" in template_names([self.spec.item, self.spec.body])

    def write(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """One result per write, in order."""
        outcome: dict[str, WriteResult] = {}
        ready: list[FieldWrite] = []
        for w in writes:
            if self.needs_email and not w.email:
                outcome[w.record_id] = WriteResult(
                    w.record_id, False, "no email is known for this record; its write needs one"
                )
            else:
                ready.append(w)
        spec = self.spec
        per_record = "{id}" in spec.path and spec.format == "json"
        size = 1 if per_record else spec.max_items
        send: _Send = (
            self._one if per_record else self._odata if spec.format == "odata_batch" else self._json
        )
        for start in range(0, len(ready), size):
            outcome.update(self._split(send, ready[start : start + size]))
        return [outcome.get(w.record_id, WriteResult(w.record_id, True)) for w in writes]

    # -- bodies ---------------------------------------------------------------------------

    def item(self, w: FieldWrite) -> dict[str, Any]:
        """A record's body: its values at their fields' paths, then the spec's `item` keys."""
        fields: dict[str, Any] = {}
        for name, value in w.values.items():
            (self.paths.get(name) or parse_path(name)).put(fields, value)
        context = self._context(w, fields)
        extra = render_value(self.spec.item, context)
        return {**fields, **extra} if isinstance(extra, dict) else fields

    def _context(self, w: FieldWrite, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "vars": self.vars,
            "id": w.record_id,
            "email": w.email,
            "values": dict(w.values),
            "fields": dict(fields),
        }

    # -- sending --------------------------------------------------------------------------

    def _split(self, send: _Send, batch: list[FieldWrite]) -> dict[str, WriteResult]:
        """Send a batch; refused whole, send its halves; unreachable, report it retryable."""
        try:
            return send(batch)
        except (AuthError, QuotaExhausted):
            raise
        except TransientError as exc:
            return {w.record_id: _result(w.record_id, "transient", str(exc)) for w in batch}
        except TemplateProblem as exc:
            message = f"the write template failed: {exc}"
            return {w.record_id: WriteResult(w.record_id, False, message) for w in batch}
        except PermanentError as exc:
            if len(batch) > 1:
                middle = len(batch) // 2
                return {**self._split(send, batch[:middle]), **self._split(send, batch[middle:])}
            return {batch[0].record_id: _refused(batch[0].record_id, exc)}

    def _one(self, batch: list[FieldWrite]) -> dict[str, WriteResult]:
        (w,) = batch
        item = self.item(w)
        body: Any = item
        if self.spec.body is not None:
            body = render_value(self.spec.body, {**self._context(w, item), "item": item})
        self.transport.request(
            self.spec.method,
            fill_path(self.spec.path, {**self.vars, "id": w.record_id}),
            json=None if body is OMIT else body,
            headers=self.spec.headers,
            rules=self.spec.errors,
            purpose="record",
            object_type=self.object_type,
            record_id=w.record_id,
        )
        return {w.record_id: WriteResult(w.record_id, True)}

    def _json(self, batch: list[FieldWrite]) -> dict[str, WriteResult]:
        items = [self.item(w) for w in batch]
        template = self.spec.body if self.spec.body is not None else "{{ items }}"
        body = render_value(template, {"vars": self.vars, "items": items})
        answer = self.transport.request(
            self.spec.method,
            fill_path(self.spec.path, self.vars),
            json=body,
            headers=self.spec.headers,
            rules=self.spec.errors,
            object_type=self.object_type,
        )
        results = self.spec.results
        if results is None:  # validation requires results for a batch; kept total anyway
            return {w.record_id: WriteResult(w.record_id, True) for w in batch}
        return self._settled(results, answer.body, batch)

    def _settled(
        self, results: ItemResults, body: Any, batch: list[FieldWrite]
    ) -> dict[str, WriteResult]:
        by_key: dict[str, list[str]] = {}
        for w in batch:
            key = _key(w.email if results.match == "email" else w.record_id)
            by_key.setdefault(key, []).append(w.record_id)
        outcome: dict[str, WriteResult] = {}
        for listing in results.ok:
            for entry in _entries(listing.get(body)):
                found = results.ok_key.get(entry) if results.ok_key else MISSING
                for record_id in by_key.get(_key(found), []):
                    outcome[record_id] = WriteResult(record_id, True)
        errors = _entries(results.errors.get(body)) if results.errors else []
        for entry in errors:
            found = results.error_key.get(entry) if results.error_key else MISSING
            action = classify_item(entry, results.rules)
            said = [
                str(v)
                for path in (results.code, results.message)
                if path is not None and (v := path.get(entry)) not in (MISSING, None, "")
            ]
            message = self.transport.scrub(": ".join(said) or "refused")
            for record_id in by_key.get(_key(found), []):
                outcome[record_id] = _result(record_id, action, message)
        for w in batch:
            if w.record_id not in outcome:
                outcome[w.record_id] = (
                    WriteResult(w.record_id, True)
                    if results.unlisted == "ok"
                    else _result(w.record_id, "transient", "the answer did not mention it")
                )
        return outcome

    def _odata(self, batch: list[FieldWrite]) -> dict[str, WriteResult]:
        spec = self.spec
        request = spec.request
        if request is None:
            raise PermanentError("odata_batch without request", system=self.transport.system)
        parts = [
            PartRequest(
                request.method,
                self.transport.url(fill_path(request.path, {**self.vars, "id": w.record_id})),
                dict(request.headers),
                self.item(w),
            )
            for w in batch
        ]
        content_type, content = batch_body(parts, changeset=spec.changeset)
        headers = {**spec.headers, "Content-Type": content_type}
        if not spec.changeset:
            headers["Prefer"] = "odata.continue-on-error"
        answer = self.transport.request(
            "POST",
            fill_path(spec.path, self.vars),
            content=content,
            headers=headers,
            rules=spec.errors,
            raw=True,
            object_type=self.object_type,
        )
        try:
            responses = batch_responses(answer.headers.get("content-type", ""), answer.content)
        except MalformedBatch as exc:
            raise TransientError(
                f"$batch: malformed response body ({exc})", system=self.transport.system
            ) from exc
        return self._parts(batch, responses)

    def _parts(self, batch: list[FieldWrite], responses: list[Any]) -> dict[str, WriteResult]:
        rules = [*self.spec.errors, *self.transport.endpoint.rules]
        by_id = {r.content_id: r for r in responses if r.content_id is not None}
        outcome: dict[str, WriteResult] = {}
        if self.spec.changeset and len(by_id) < len(batch):
            failed = [r for r in responses if r.status >= 300]
            named = [r for r in failed if r.content_id is not None]
            if failed and not named:
                # The change set failed as a whole and says not for which record: refused whole.
                verdict = classify(failed[0].status, failed[0].body, rules, "record")
                message = f"$batch change set: HTTP {failed[0].status}"
                message += self.transport.said(failed[0].body)
                raise self.transport.error(
                    verdict,
                    message,
                    failed[0].status,
                    None,
                    {"system": self.transport.system, "object_type": self.object_type},
                )
        for position, w in enumerate(batch):
            part = by_id.get(str(position + 1)) if self.spec.changeset else None
            if part is None and not self.spec.changeset and position < len(responses):
                part = responses[position]
            if part is None:
                outcome[w.record_id] = _result(
                    w.record_id, "transient", "not applied: its change set or batch stopped"
                )
            elif part.status < 300:
                outcome[w.record_id] = WriteResult(w.record_id, True)
            else:
                verdict = classify(part.status, part.body, rules, "record")
                message = f"HTTP {part.status}{self.transport.said(part.body)}"
                outcome[w.record_id] = _result(w.record_id, verdict.action, message)
        return outcome


def _entries(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _key(value: object) -> str:
    """A match key as compared: emails without case or surrounding space."""
    if value is MISSING or value is None or isinstance(value, dict | list):
        return "\0"  # matches no write
    return str(value).strip().lower()


def _result(record_id: str, action: Action, message: str) -> WriteResult:
    if action == "transient" or action == "quota":
        return WriteResult(record_id, False, message, retryable=True)
    if action == "gone":
        return WriteResult(record_id, False, message, gone=True)
    if action == "unrepresentable":
        return WriteResult(record_id, False, message, unrepresentable=True)
    return WriteResult(record_id, False, message)


def _refused(record_id: str, exc: PermanentError) -> WriteResult:
    if isinstance(exc, RecordGone):
        return _result(record_id, "gone", str(exc))
    if isinstance(exc, NotRepresentable):
        return _result(record_id, "unrepresentable", str(exc))
    return _result(record_id, "permanent", str(exc))
