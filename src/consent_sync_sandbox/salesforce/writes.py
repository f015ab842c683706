"""Records in: a create or update checked field by field, as Salesforce checks a save.

Save errors are per record (`RecordError`, a SaveResult entry); a value JSON cannot carry for
its field type (a datetime that is no datetime) fails the whole request, as Salesforce's
deserializer does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consent_sync_sandbox.salesforce.errors import RecordError, SalesforceError
from consent_sync_sandbox.salesforce.objects import target
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    SqlParam,
    id_sequence,
    normalize_id,
    to_ms,
)
from consent_sync_sandbox.salesforce.store import Row, Store

Values = dict[FieldSpec, SqlParam]


def _type_error(field: FieldSpec, value: object) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{field.label}: value not of required type: {value}",
        [field.name],
    )


def parse_datetime(text: str) -> datetime | None:
    """A datetime as Salesforce accepts one: ISO 8601 with Z, +hh:mm or +hhmm, or a date."""
    candidate = text.strip()
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    if len(candidate) > 5 and candidate[-5] in "+-" and candidate[-3] != ":":
        candidate = f"{candidate[:-2]}:{candidate[-2:]}"  # +0000 -> +00:00
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _datetime(field: FieldSpec, value: object) -> int:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise SalesforceError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of datetime from VALUE_STRING value {value} or "
            f"request may be missing a required field ({field.name})",
        )
    return to_ms(moment)


def _reference(field: FieldSpec, value: str) -> tuple[SqlParam, RecordError | None]:
    if normalize_id(value) is None:
        message = f"{field.label}: id value of incorrect type: {value}"
        return None, RecordError("MALFORMED_ID", message, [field.name])
    sequence = id_sequence(target(field), value)
    if sequence is None:
        message = f"{field.label}: id value of incorrect type: {value}"
        return None, RecordError("FIELD_INTEGRITY_EXCEPTION", message, [field.name])
    return sequence, None


def _check_value(field: FieldSpec, value: object) -> tuple[SqlParam, RecordError | None]:
    if field.type == "boolean":
        if value is None:
            return 0, None  # a checkbox cannot be null; Salesforce stores false
        if isinstance(value, bool):
            return int(value), None
        return None, _type_error(field, value)
    if value is None:
        if not field.nillable or field.required:
            missing = f"Required fields are missing: [{field.name}]"
            return None, RecordError("REQUIRED_FIELD_MISSING", missing, [field.name])
        return None, None
    if field.type == "datetime":
        return _datetime(field, value), None
    if not isinstance(value, str):
        return None, _type_error(field, value)
    if field.type == "reference":
        return _reference(field, value)
    if field.type == "picklist" and value not in field.picklist:
        return None, RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{field.label}: bad value for restricted picklist field: {value}",
            [field.name],
        )
    if field.length and len(value) > field.length:
        return None, RecordError(
            "STRING_TOO_LONG",
            f"{field.label}: data value too large: {value} (max length={field.length})",
            [field.name],
        )
    if field.type == "email" and not _looks_like_email(value):
        return None, RecordError(
            "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {value}", [field.name]
        )
    return value, None


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))


def check_write(
    spec: SObjectSpec, body: dict[str, Any], *, creating: bool
) -> tuple[Values, list[RecordError]]:
    """Validate field values for a create or update; returns values or the save errors."""
    values: Values = {}
    errors: list[RecordError] = []
    locked: list[str] = []
    for name, raw in body.items():
        if name == "attributes":
            continue
        field = spec.field(name)
        if field is None:
            errors.append(
                RecordError(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {spec.name}"
                )
            )
            continue
        if not (field.createable if creating else field.updateable):
            locked.append(field.name)
            continue
        value, error = _check_value(field, raw)
        if error is not None:
            errors.append(error)
        else:
            values[field] = value
    if locked:
        errors.append(
            RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                locked,
            )
        )
    if creating:
        given = {f.name for f in values} | {f for e in errors for f in e.fields}
        missing = [f.name for f in spec.fields if f.required and f.name not in given]
        if missing:
            errors.append(
                RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )
    return values, errors


def check_references(store: Store, values: Values) -> list[RecordError]:
    """Lookups must name live records of their type (`invalid cross reference id` otherwise)."""
    errors: list[RecordError] = []
    for field, value in values.items():
        if field.type != "reference" or value is None:
            continue
        row = store.get(target(field), int(value))
        if row is None:
            errors.append(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
        elif row["IsDeleted"]:
            errors.append(RecordError("ENTITY_IS_DELETED", "entity is deleted", [field.name]))
    return errors


def with_derived(spec: SObjectSpec, values: Values, current: Row | None) -> Values:
    """Add what the org derives on save: an Individual's Name from its first and last name."""
    name = spec.field("Name")
    first, last = spec.field("FirstName"), spec.field("LastName")
    if name is None or name.createable or first is None or last is None:
        return values
    if first not in values and last not in values:
        return values
    parts = [values[f] if f in values else (current or {}).get(f.name) for f in (first, last)]
    return {**values, name: " ".join(str(p) for p in parts if p)}
