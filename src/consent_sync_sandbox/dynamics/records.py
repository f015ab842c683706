"""Stored contacts as the Web API writes them, and PATCH bodies as it reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from consent_sync_sandbox.dynamics.errors import bad_request
from consent_sync_sandbox.dynamics.schema import ATTRIBUTE_BY_NAME, STATE_STATUS, Attribute
from consent_sync_sandbox.dynamics.store import Row


def odata_datetime(seconds: int | float) -> str:
    """A stored stamp as Dataverse writes a DateTime column: UTC, to the second."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def etag(row: Row) -> str:
    """A record's weak ETag: its row version."""
    return f'W/"{row["versionnumber"]}"'


def _json_value(attribute: Attribute, value: Any) -> Any:
    if value is None:
        return None
    if attribute.type == "Boolean":
        return bool(value)
    if attribute.type == "DateTime":
        return odata_datetime(value)
    return value


def record_json(row: Row, select: Sequence[str] | None) -> dict[str, Any]:
    """One contact: its ETag, the selected columns (all without `$select`) and its id."""
    body: dict[str, Any] = {"@odata.etag": etag(row)}
    names = list(select) if select else list(ATTRIBUTE_BY_NAME)
    for name in names:
        attribute = ATTRIBUTE_BY_NAME[name]
        body[name] = _json_value(attribute, row[name])
    body["contactid"] = row["contactid"]
    return body


def parse_select(text: str | None) -> list[str] | None:
    """`$select=a,b` as known column names; an unknown one is a 400 as on the real service."""
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in ATTRIBUTE_BY_NAME:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                "'Microsoft.Dynamics.CRM.contact'."
            )
    return names


def write_values(body: Any) -> dict[str, Any]:
    """A create/update body as stored values; read-only columns are ignored, unknown ones and
    wrongly typed values are refused with Dataverse's 400."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object describing a contact.")
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or "@" in name:
            continue
        attribute = ATTRIBUTE_BY_NAME.get(name)
        if attribute is None:
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.contact'. "
                "Make sure to only use property names that are defined by the type."
            )
        if not attribute.writable:
            continue
        values[name] = _stored_value(attribute, value)
    state = values.get("statecode")
    if state is not None and state not in STATE_STATUS:
        raise bad_request(f"{state} is not a valid state code on contact.", "0x80040203")
    return values


def _stored_value(attribute: Attribute, value: Any) -> Any:
    expected = {
        "Boolean": "Edm.Boolean",
        "String": "Edm.String",
        "Memo": "Edm.String",
        "State": "Edm.Int32",
        "Status": "Edm.Int32",
    }[attribute.type]
    if value is None:
        if attribute.type in ("Boolean", "State", "Status"):
            raise bad_request(
                f"A null value was found for the property named '{attribute.logical_name}', "
                f"which has the expected type '{expected}[Nullable=False]'."
            )
        return None
    ok = (
        isinstance(value, bool)
        if attribute.type == "Boolean"
        else isinstance(value, str)
        if attribute.type in ("String", "Memo")
        else isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok:
        raise bad_request(
            f"Cannot convert a value to target type '{expected}' because of conflict between "
            f"input format string/number and parameter '{attribute.logical_name}'."
        )
    if attribute.type == "Boolean":
        return int(value)
    if isinstance(value, str) and attribute.max_length and len(value) > attribute.max_length:
        raise bad_request(
            f"A validation error occurred. The length of the '{attribute.logical_name}' attribute "
            f"of the 'contact' entity exceeded the maximum allowed length of "
            f"'{attribute.max_length}'.",
            "0x80044331",
        )
    return value
