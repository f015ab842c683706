"""`validate --live`: check each mapped field against the CRM's own describe/properties.

A mapped field must exist, be writable when its direction includes push, and its value table
must fit the field: picklist and enumeration values must be options, checkbox tables booleans.
A consent-records object's fields must exist, its channels be ContactPointType options, and each
DataUsePurpose it names exist in the org and be active.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from consent_sync.config import ConfigIssue, DeploymentConfig, FieldMapping, ObjectMapping
from consent_sync.config.yaml_source import YamlDocument, load_yaml
from consent_sync.connectors.protocol import Connector, ConnectorError
from consent_sync.domain.records import FieldInfo

_BOOLEAN_TYPES = frozenset({"boolean", "bool"})
_OPTION_TYPES = frozenset({"picklist", "multipicklist", "enumeration", "subscription"})
#: What a consent record is read by, besides its owner (PartyId or ContactPointId).
_CONSENT_FIELDS = ("DataUsePurposeId", "PrivacyConsentStatus", "CaptureDate", "EffectiveTo")
#: Written when consent-sync records a decision on one.
_CONSENT_WRITTEN = ("PrivacyConsentStatus", "CaptureDate", "CaptureSource", "EffectiveFrom")
_OWNER = {"ContactPointTypeConsent": "PartyId", "ContactPointConsent": "ContactPointId"}

Issue = Callable[[tuple[object, ...], str], None]


@runtime_checkable
class PurposeCatalog(Protocol):
    """A connector that can list its org's DataUsePurposes: name -> whether it is active."""

    def data_use_purposes(self) -> dict[str, bool]: ...


def live_issues(config: DeploymentConfig, connectors: Mapping[str, Connector]) -> list[ConfigIssue]:
    """Every mismatch between the mappings and the connected CRMs, as file:line issues."""
    issues: list[ConfigIssue] = []
    for system, mapping in sorted(config.mappings.items()):
        connector = connectors.get(system)
        if connector is None:
            continue
        path = config.config_dir / "mappings" / f"{system}.yaml"
        doc, _ = load_yaml(path)

        def issue(
            loc: tuple[object, ...],
            message: str,
            doc: YamlDocument | None = doc,
            path: Path = path,
        ) -> None:
            line = doc.line(loc) if doc is not None else None
            issues.append(ConfigIssue(path, line, message))

        for object_type, obj in mapping.objects.items():
            loc = ("objects", object_type)
            try:
                described = {f.name: f for f in connector.describe(object_type)}
            except ConnectorError as exc:
                issue(loc, f"cannot describe {object_type} in {system}: {exc}")
                continue
            if obj.kind == "consent_records":
                consent_problems(object_type, obj, described, connector, issue)
                continue
            for key, field_name in (("email", obj.match.email), ("phone", obj.match.phone)):
                if field_name is not None and field_name not in described:
                    issue((*loc, "match", key), f"{object_type}.{field_name} does not exist")
            for name, field in obj.fields.items():
                found = described.get(name)
                where = (*loc, "fields", name)
                if found is None:
                    issue(where, f"{object_type}.{name} does not exist in {system}")
                    continue
                for message in field_problems(object_type, name, field, found):
                    issue(where, message)
    return issues


def consent_problems(
    object_type: str,
    obj: ObjectMapping,
    described: Mapping[str, FieldInfo],
    connector: Connector,
    issue: Issue,
) -> None:
    """What is wrong with a consent-records object given the org's describe and purposes."""
    at = ("objects", object_type)
    pushes = any(entry.direction != "pull" for entry in obj.consents)
    for name in (_OWNER.get(object_type, "PartyId"), *_CONSENT_FIELDS, *_CONSENT_WRITTEN):
        found = described.get(name)
        if found is None:
            issue((*at, "kind"), f"{object_type}.{name} does not exist")
        elif pushes and name in _CONSENT_WRITTEN and not found.writable:
            issue((*at, "kind"), f"{object_type}.{name} is read-only, but consents are pushed")
    channel = described.get("ContactPointType")
    purposes: dict[str, bool] | None = None
    if isinstance(connector, PurposeCatalog):
        try:
            purposes = {n.casefold(): active for n, active in connector.data_use_purposes().items()}
        except ConnectorError as exc:
            issue(at, f"cannot list the DataUsePurposes: {exc}")
    for position, entry in enumerate(obj.consents):
        where = (*at, "consents", position)
        if (
            channel is not None
            and channel.options
            and entry.contact_point_type not in channel.options
        ):
            issue(
                (*where, "contact_point_type"),
                f"{entry.contact_point_type!r} is not an option of {object_type}.ContactPointType "
                f"(options: {', '.join(channel.options)})",
            )
        if purposes is None:
            continue
        active = purposes.get(entry.data_use_purpose.casefold())
        if active is None:
            issue(
                (*where, "data_use_purpose"),
                f"DataUsePurpose {entry.data_use_purpose!r} does not exist in the org",
            )
        elif not active:
            issue(
                (*where, "data_use_purpose"),
                f"DataUsePurpose {entry.data_use_purpose!r} is not active in the org",
            )


def field_problems(object_type: str, name: str, field: FieldMapping, found: FieldInfo) -> list[str]:
    """What is wrong with one mapped field given how the CRM describes it."""
    problems = []
    if field.pushes and not found.writable:
        problems.append(
            f"{object_type}.{name} is read-only in the CRM but its direction is "
            f"{field.direction}; use direction: pull"
        )
    keys = [k for k in field.values if k is not None]
    if found.type.lower() in _BOOLEAN_TYPES:
        wrong = [k for k in keys if not isinstance(k, bool)]
        if wrong:
            problems.append(
                f"{object_type}.{name} is a checkbox: its values must be true/false, "
                f"not {', '.join(repr(k) for k in wrong)}"
            )
    elif found.type.lower() in _OPTION_TYPES and found.options:
        unknown = [k for k in keys if str(k) not in found.options]
        if unknown:
            problems.append(
                f"{', '.join(repr(k) for k in unknown)} is not an option of {object_type}.{name} "
                f"(options: {', '.join(found.options)})"
            )
    return problems
