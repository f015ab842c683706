"""Records in and out: render stored rows as REST JSON, check writes as Salesforce does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent_sync_sandbox.salesforce.errors import RecordError
from consent_sync_sandbox.salesforce.query import SqlParam
from consent_sync_sandbox.salesforce.schema import FieldSpec, SObjectSpec, format_datetime
from consent_sync_sandbox.salesforce.store import Row

Values = dict[FieldSpec, SqlParam]


def record_url(spec: SObjectSpec, record_id: str, version: str) -> str:
    return f"/services/data/v{version}/sobjects/{spec.name}/{record_id}"


def render(
    spec: SObjectSpec, row: Row, fields: Sequence[FieldSpec] | None, version: str
) -> dict[str, Any]:
    """A record as the REST API returns it: `attributes`, then the fields asked for."""
    record: dict[str, Any] = {
        "attributes": {"type": spec.name, "url": record_url(spec, row["Id"], version)}
    }
    for field in fields if fields is not None else spec.fields:
        value = row[field.name]
        if field.type == "boolean":
            value = bool(value)
        elif field.type == "datetime" and value is not None:
            value = format_datetime(int(value))
        record[field.name] = value
    return record


def _check_value(field: FieldSpec, value: object) -> tuple[SqlParam, RecordError | None]:
    if field.type == "boolean":
        if value is None:
            return 0, None  # a checkbox cannot be null; Salesforce stores false
        if isinstance(value, bool):
            return int(value), None
        return None, RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{field.label}: value not of required type: {value}",
            [field.name],
        )
    if value is None:
        if not field.nillable:
            return None, RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{field.name}]",
                [field.name],
            )
        return None, None
    if not isinstance(value, str):
        return None, RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{field.label}: value not of required type: {value}",
            [field.name],
        )
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
        missing = [f.name for f in spec.fields if f.name == "LastName" and f not in values]
        if missing:
            errors.append(
                RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )
    return values, errors
