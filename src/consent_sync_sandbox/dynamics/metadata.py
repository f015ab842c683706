"""`EntityDefinitions` for the contact table: what describe and `validate --live` read.

Supported (as documented for the Web API): `EntityDefinitions?$filter=LogicalName eq 'contact'`,
`EntityDefinitions(LogicalName='contact')` (or its MetadataId), `.../Attributes` with `$select`
and `$filter` on `LogicalName` / `AttributeType`, `.../Attributes(LogicalName='x')` and the
`PicklistAttributeMetadata` cast (the contact columns held here include no picklist).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from consent_sync_sandbox.dynamics.errors import DataverseError, bad_request
from consent_sync_sandbox.dynamics.schema import (
    ATTRIBUTE_BY_NAME,
    ATTRIBUTES,
    ENTITY_METADATA_ID,
    entity_definition,
)

_EQUALS = re.compile(
    r"\s*(LogicalName|AttributeType)\s+eq\s+(?:Microsoft\.Dynamics\.CRM\.AttributeTypeCode)?'([^']*)'\s*"
)
_ALWAYS = ("MetadataId", "@odata.type")


def _project(body: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return body
    wanted = {name.strip() for name in select.split(",") if name.strip()}
    return {k: v for k, v in body.items() if k in wanted or k in _ALWAYS or k == "@odata.context"}


def _filter(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    match = _EQUALS.fullmatch(text)
    if match is None:
        raise bad_request(
            "The metadata emulation filters on `LogicalName eq '...'` or "
            "`AttributeType eq '...'` only."
        )
    return match.group(1), match.group(2)


def entity_key_is_contact(key: str) -> bool:
    """Whether `EntityDefinitions(<key>)` names the contact table (by logical name or id)."""
    text = key.strip()
    named = re.fullmatch(r"LogicalName\s*=\s*'([^']*)'", text)
    if named:
        return named.group(1).lower() == "contact"
    return text.strip("{}").lower() == ENTITY_METADATA_ID


def _missing_entity(key: str) -> DataverseError:
    return DataverseError(404, "0x80040217", f"Could not find entity with key {key}.")


def list_entities(api_root: str, params: Mapping[str, str]) -> dict[str, Any]:
    """`GET EntityDefinitions`: the contact table, if the filter asks for it."""
    wanted = _filter(params.get("$filter"))
    entity = entity_definition(api_root)
    entity.pop("@odata.context")
    matches = wanted is None or (wanted[0] == "LogicalName" and wanted[1].lower() == "contact")
    return {
        "@odata.context": f"{api_root}/$metadata#EntityDefinitions",
        "value": [_project(entity, params.get("$select"))] if matches else [],
    }


def get_entity(api_root: str, key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """`GET EntityDefinitions(<key>)`."""
    if not entity_key_is_contact(key):
        raise _missing_entity(key)
    return _project(entity_definition(api_root), params.get("$select"))


def list_attributes(
    api_root: str, key: str, params: Mapping[str, str], cast: str | None = None
) -> dict[str, Any]:
    """`GET EntityDefinitions(<key>)/Attributes[/<cast>]`: the columns, filtered and projected."""
    if not entity_key_is_contact(key):
        raise _missing_entity(key)
    wanted = _filter(params.get("$filter"))
    items = [a.definition() for a in ATTRIBUTES]
    if cast is not None:
        items = [i for i in items if i["@odata.type"] == f"#{cast}"]
    if wanted is not None:
        items = [i for i in items if str(i.get(wanted[0], "")).lower() == wanted[1].lower()]
    context = f"{api_root}/$metadata#EntityDefinitions({ENTITY_METADATA_ID})/Attributes"
    return {
        "@odata.context": context + (f"/{cast}" if cast else ""),
        "value": [_project(i, params.get("$select")) for i in items],
    }


def get_attribute(
    api_root: str, key: str, attribute_key: str, params: Mapping[str, str]
) -> dict[str, Any]:
    """`GET EntityDefinitions(<key>)/Attributes(LogicalName='x')` (or by MetadataId)."""
    if not entity_key_is_contact(key):
        raise _missing_entity(key)
    named = re.fullmatch(r"LogicalName\s*=\s*'([^']*)'", attribute_key.strip())
    attribute = None
    if named:
        attribute = ATTRIBUTE_BY_NAME.get(named.group(1))
    else:
        wanted = attribute_key.strip().strip("{}").lower()
        attribute = next((a for a in ATTRIBUTES if a.metadata_id == wanted), None)
    if attribute is None:
        raise DataverseError(
            404, "0x80040217", f"Could not find attribute with key {attribute_key} on contact."
        )
    body = {
        "@odata.context": (
            f"{api_root}/$metadata#EntityDefinitions({ENTITY_METADATA_ID})/Attributes/$entity"
        ),
        **attribute.definition(),
    }
    return _project(body, params.get("$select"))
