"""describe and describeGlobal bodies: each field's type, writability, picklist and lookup."""

from __future__ import annotations

from typing import Any

from consent_sync_sandbox.salesforce.schema import FieldSpec, SObjectSpec


def _picklist_value(value: str) -> dict[str, Any]:
    return {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}


def describe_field(f: FieldSpec) -> dict[str, Any]:
    """One entry of describe's `fields`, with the keys clients read."""
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "length": f.length,
        "updateable": f.updateable,
        "createable": f.createable,
        "nillable": f.nillable,
        "custom": f.custom,
        "defaultedOnCreate": f.type == "boolean" or not f.createable,
        "filterable": True,
        "sortable": True,
        "groupable": f.type != "datetime",
        "unique": False,
        "externalId": False,
        "calculated": False,
        "nameField": f.name == "Name",
        "idLookup": f.name in ("Id", "Name", "Email", "EmailAddress"),
        "restrictedPicklist": f.type == "picklist",
        "picklistValues": [_picklist_value(v) for v in f.picklist],
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship or None,
        "cascadeDelete": False,
    }


def sobject_summary(spec: SObjectSpec, version: str) -> dict[str, Any]:
    """An sObject as describeGlobal lists it."""
    return {
        "name": spec.name,
        "label": spec.label,
        "labelPlural": spec.label_plural,
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "replicateable": True,
        "urls": {"sobject": f"/services/data/v{version}/sobjects/{spec.name}"},
    }


def describe_sobject(spec: SObjectSpec, version: str) -> dict[str, Any]:
    """`GET /sobjects/{name}/describe`."""
    base = f"/services/data/v{version}/sobjects/{spec.name}"
    return {
        **sobject_summary(spec, version),
        "fields": [describe_field(f) for f in spec.fields],
        "urls": {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        },
    }
