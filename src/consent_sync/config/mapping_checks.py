"""Checks on a system mapping that span fields or files: push derivability, one writer per purpose,
subscriptions only where the CRM has them."""

from __future__ import annotations

from consent_sync.config.consent_checks import check_consent_object
from consent_sync.config.errors import ConfigIssue
from consent_sync.config.mappings import (
    SUBSCRIPTION_STATES,
    FieldMapping,
    ObjectMapping,
    SystemMapping,
)
from consent_sync.config.yaml_source import Loc, YamlDocument, show_key
from consent_sync.domain.mapping import raw_values_for, status_for
from consent_sync.domain.model import Status

_WRITTEN = (Status.GRANTED, Status.DENIED)


def mapping_warnings(doc: YamlDocument, mapping: SystemMapping) -> list[ConfigIssue]:
    """Value tables that read the absence of an objection as an explicit grant.

    An unticked opt-out checkbox (`true: denied`, `false: granted`) or an empty field read as
    `granted` would make every record nobody asked look like consent
    (docs/design.md, "What a grant is").
    """
    issues: list[ConfigIssue] = []
    for object_name, obj in mapping.objects.items():
        for field_name, field in obj.fields.items():
            at: Loc = ("objects", object_name, "fields", field_name, "values")
            opt_out_box = status_for(field, True) is Status.DENIED
            for raw in (False, None):
                if status_for(field, raw) is not Status.GRANTED:
                    continue
                if raw is None:
                    what = "an empty field"
                elif opt_out_box:
                    what = "an unticked opt-out checkbox"
                else:
                    continue
                issues.append(
                    doc.issue(
                        (*at, raw),
                        f"values reads {what} ({show_key(raw)}) as granted: the absence of an "
                        f"objection is not an opt-in; map {show_key(raw)} to not_opted_out",
                    )
                )
    return issues


def check_mapping(
    doc: YamlDocument, mapping: SystemMapping, system: str, connector_type: str | None
) -> list[ConfigIssue]:
    """Every cross-field problem of `mappings/<system>.yaml`.

    `connector_type` is the type of the system's connector, None when it has no connector file.
    """
    issues: list[ConfigIssue] = []
    if mapping.system != system:
        issues.append(
            doc.issue(
                ("system",),
                f"system {mapping.system!r} does not match the file name ({system}.yaml)",
            )
        )
    elif connector_type is None:
        issues.append(
            doc.issue(
                ("system",),
                f"mapping for system {system!r}, which has no connector (connectors/{system}.yaml)",
            )
        )
    for object_name, obj in mapping.objects.items():
        issues += check_consent_object(doc, object_name, obj, connector_type)
        if obj.kind == "consent_records":
            continue  # its fields are derived from its consents, each one sound
        issues += _check_unsubscribe_all(doc, object_name, obj, connector_type)
        pushers: dict[str, str] = {}
        for field_name, field in obj.fields.items():
            at: Loc = ("objects", object_name, "fields", field_name)
            issues += _check_kind(doc, at, field, connector_type)
            issues += _check_push(doc, at, field)
            if not field.pushes:
                continue
            if field.purpose in pushers:
                issues.append(
                    doc.issue(
                        (*at, "purpose"),
                        f"fields {pushers[field.purpose]!r} and {field_name!r} of {object_name} "
                        f"both push purpose {field.purpose}; set direction: pull on all but one",
                    )
                )
            else:
                pushers[field.purpose] = field_name
    return issues


def _check_unsubscribe_all(
    doc: YamlDocument, object_name: str, obj: ObjectMapping, connector_type: str | None
) -> list[ConfigIssue]:
    if obj.unsubscribe_all is None:
        return []
    at: Loc = ("objects", object_name, "unsubscribe_all")
    if connector_type not in (None, "", "hubspot"):
        return [doc.issue(at, f"unsubscribe_all is a HubSpot feature, not {connector_type}'s")]
    if not any(f.kind == "subscription" for f in obj.fields.values()):
        return [doc.issue(at, "unsubscribe_all needs at least one field of kind: subscription")]
    return []


def _check_kind(
    doc: YamlDocument, at: Loc, field: FieldMapping, connector_type: str | None
) -> list[ConfigIssue]:
    if field.kind == "property":
        if field.subscription is not None:
            return [
                doc.issue((*at, "subscription"), "subscription is only used by kind: subscription")
            ]
        return []
    if field.subscription is None:
        return [doc.issue((*at, "kind"), "kind subscription needs subscription: <id or name>")]
    issues: list[ConfigIssue] = []
    if connector_type not in (None, "", "hubspot"):
        issues.append(
            doc.issue(
                (*at, "kind"),
                f"subscriptions are a HubSpot feature; a {connector_type} field is a property",
            )
        )
    for raw in field.values:
        if raw not in SUBSCRIPTION_STATES:
            issues.append(
                doc.issue(
                    (*at, "values", raw),
                    f"subscription values must be {', '.join(sorted(SUBSCRIPTION_STATES))}, "
                    f"not {show_key(raw)}",
                )
            )
    return issues


def _check_push(doc: YamlDocument, at: Loc, field: FieldMapping) -> list[ConfigIssue]:
    if not field.pushes:
        if field.push_value is not None:
            return [
                doc.issue(
                    (*at, "push_value"), "push_value is only used when direction is push or both"
                )
            ]
        return []
    issues: list[ConfigIssue] = []
    chosen = field.push_value or {}
    for status in _WRITTEN:
        candidates = _writable(field, status)
        if not candidates:
            wanted = "granted or not_opted_out" if status is Status.GRANTED else status.value
            issues.append(
                doc.issue(
                    (*at, "values"),
                    f"values has no raw value for {wanted}, so the field cannot be pushed; "
                    "add one or set direction: pull",
                )
            )
        elif len(candidates) > 1 and status not in chosen:
            shown = " and ".join(show_key(raw) for raw in candidates)
            issues.append(
                doc.issue(
                    (*at, "values"),
                    f"values maps {shown} to {status}; add push_value: {{{status}: ...}} "
                    "to say which one to write",
                )
            )
    for status, raw in chosen.items():
        if status is Status.NOT_OPTED_OUT and status_for(field, raw) is Status.GRANTED:
            issues.append(
                doc.issue(
                    (*at, "push_value", status.value),
                    f"push_value writes {show_key(raw)}, which values reads as granted, for "
                    "not_opted_out: the absence of an objection is never written as an opt-in",
                )
            )
            continue
        candidates = _writable(field, status)
        if not any(type(raw) is type(c) and raw == c for c in candidates):
            allowed = ", ".join(show_key(c) for c in candidates) or "none"
            issues.append(
                doc.issue(
                    (*at, "push_value", status.value),
                    f"push_value for {status} must be a raw value that values maps to {status} "
                    f"({allowed})",
                )
            )
    return issues


def _writable(field: FieldMapping, status: Status) -> list[object]:
    """The raw values a push may write for `status` (a grant may be written as "not opted out",
    as an opt-out checkbox left unticked)."""
    candidates: list[object] = list(raw_values_for(field, status))
    if not candidates and status is Status.GRANTED:
        candidates = list(raw_values_for(field, Status.NOT_OPTED_OUT))
    return candidates
