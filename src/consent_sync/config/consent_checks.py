"""Checks on a consent-records object (Salesforce's ContactPointTypeConsent, ContactPointConsent)
that its schema cannot say: where it may be used, which keys it derives, repeated entries.

(docs/design.md, "Salesforce consent records")
"""

from __future__ import annotations

from typing import Any

from consent_sync.config.errors import ConfigIssue
from consent_sync.config.mappings import ObjectMapping
from consent_sync.config.yaml_source import Loc, YamlDocument

#: The Salesforce objects a consent-records mapping reads: per person (Individual) and channel,
#: or per email address (ContactPointEmail).
CONSENT_OBJECTS = ("ContactPointTypeConsent", "ContactPointConsent")
_DERIVED = ("match", "fields", "unsubscribe_all")
_RECORDS_ONLY = ("consents", "create_individual")


def check_consent_object(
    doc: YamlDocument, object_name: str, obj: ObjectMapping, connector_type: str | None
) -> list[ConfigIssue]:
    """Every problem of one object with respect to the consent-records kind (none for an
    ordinary object that does not use its keys)."""
    at: Loc = ("objects", object_name)
    written = _written_keys(doc, at)
    if obj.kind != "consent_records":
        return [
            doc.issue((*at, key), f"{key} is only used by kind: consent_records")
            for key in _RECORDS_ONLY
            if key in written
        ]
    issues: list[ConfigIssue] = []
    if connector_type not in (None, "", "salesforce"):
        issues.append(
            doc.issue(
                (*at, "kind"),
                "consent_records reads Salesforce's consent data model, "
                f"not a {connector_type} system",
            )
        )
    if object_name not in CONSENT_OBJECTS:
        issues.append(
            doc.issue(
                (*at, "kind"),
                f"kind consent_records reads {' or '.join(CONSENT_OBJECTS)}, not {object_name}",
            )
        )
    issues += [
        doc.issue(
            (*at, key),
            f"a consent_records object has no {key}: its people are found through their "
            "Individual and its fields are its consents",
        )
        for key in _DERIVED
        if key in written
    ]
    if object_name == "ContactPointConsent" and obj.create_individual:
        issues.append(
            doc.issue(
                (*at, "create_individual"),
                "create_individual is used by ContactPointTypeConsent only (a "
                "ContactPointConsent belongs to an email address, which consent-sync never "
                "creates)",
            )
        )
    issues += _repeated_entries(doc, at, object_name, obj)
    return issues


def _repeated_entries(
    doc: YamlDocument, at: Loc, object_name: str, obj: ObjectMapping
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    first: dict[tuple[str, str], int] = {}
    for position, entry in enumerate(obj.consents):
        where: Loc = (*at, "consents", position)
        written = _written_keys(doc, where)
        if (
            object_name == "ContactPointConsent"
            and "contact_point_type" in written
            and entry.contact_point_type != "Email"
        ):
            issues.append(
                doc.issue(
                    (*where, "contact_point_type"),
                    "ContactPointConsent records are read per email address "
                    f"(ContactPointEmail): contact_point_type must be Email, not "
                    f"{entry.contact_point_type!r}",
                )
            )
        # Salesforce compares names without regard to case: `email marketing` is the same one.
        pair = (entry.data_use_purpose.casefold(), entry.contact_point_type)
        if pair in first:
            issues.append(
                doc.issue(
                    where,
                    f"consents repeats {entry.data_use_purpose!r} for {entry.contact_point_type} "
                    f"(first at line {doc.line((*at, 'consents', first[pair]))}); one entry per "
                    "data use purpose and contact point type",
                )
            )
        else:
            first[pair] = position
    return issues


def _written_keys(doc: YamlDocument, loc: Loc) -> set[Any]:
    data: Any = doc.data
    for step in loc:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return set()
    return set(data) if isinstance(data, dict) else set()
