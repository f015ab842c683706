"""The pure core: the consent vocabulary, identity, the reconciliation rule, value tables and
the records connectors exchange. No I/O, no clock, no database; it imports nothing else of
consent-sync (docs/design.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent_sync.domain.identity import (
        IdentityError,
        MatchKeys,
        normalize_email,
        normalize_phone,
        redact_email,
        try_normalize_email,
    )
    from consent_sync.domain.mapping import (
        FieldRule,
        MappedRecord,
        MatchRule,
        ObjectRule,
        RawValue,
        SystemRule,
        held,
        match_keys,
        observe,
        pulled_fields,
        pushed_field,
        raw_for,
        raw_values_for,
        render,
        status_for,
        targets,
    )
    from consent_sync.domain.model import (
        LEGAL_BASES,
        MANUAL_PREFIX,
        SEVERITY,
        Canonical,
        Conflict,
        ConflictKind,
        Decision,
        Evidence,
        LinkKey,
        Observation,
        Policy,
        Purpose,
        Regime,
        Resolution,
        Severity,
        Shadow,
        Side,
        Status,
        Targets,
        TimeKind,
        Verdict,
    )
    from consent_sync.domain.reconcile import (
        reconcile,
    )
    from consent_sync.domain.records import (
        FieldInfo,
        FieldWrite,
        Page,
        Quota,
        Record,
        WriteResult,
    )

#: Where each name lives, imported on first use: a command that needs the vocabulary alone
#: (`ledger verify`) loads neither the mapping tables nor the rule (docs/performance.md).
_LAZY = {
    "IdentityError": "consent_sync.domain.identity",
    "MatchKeys": "consent_sync.domain.identity",
    "normalize_email": "consent_sync.domain.identity",
    "normalize_phone": "consent_sync.domain.identity",
    "redact_email": "consent_sync.domain.identity",
    "try_normalize_email": "consent_sync.domain.identity",
    "FieldRule": "consent_sync.domain.mapping",
    "MappedRecord": "consent_sync.domain.mapping",
    "MatchRule": "consent_sync.domain.mapping",
    "ObjectRule": "consent_sync.domain.mapping",
    "RawValue": "consent_sync.domain.mapping",
    "SystemRule": "consent_sync.domain.mapping",
    "held": "consent_sync.domain.mapping",
    "match_keys": "consent_sync.domain.mapping",
    "observe": "consent_sync.domain.mapping",
    "pulled_fields": "consent_sync.domain.mapping",
    "pushed_field": "consent_sync.domain.mapping",
    "raw_for": "consent_sync.domain.mapping",
    "raw_values_for": "consent_sync.domain.mapping",
    "render": "consent_sync.domain.mapping",
    "status_for": "consent_sync.domain.mapping",
    "targets": "consent_sync.domain.mapping",
    "LEGAL_BASES": "consent_sync.domain.model",
    "MANUAL_PREFIX": "consent_sync.domain.model",
    "SEVERITY": "consent_sync.domain.model",
    "Canonical": "consent_sync.domain.model",
    "Conflict": "consent_sync.domain.model",
    "ConflictKind": "consent_sync.domain.model",
    "Decision": "consent_sync.domain.model",
    "Evidence": "consent_sync.domain.model",
    "LinkKey": "consent_sync.domain.model",
    "Observation": "consent_sync.domain.model",
    "Policy": "consent_sync.domain.model",
    "Purpose": "consent_sync.domain.model",
    "Regime": "consent_sync.domain.model",
    "Resolution": "consent_sync.domain.model",
    "Severity": "consent_sync.domain.model",
    "Shadow": "consent_sync.domain.model",
    "Side": "consent_sync.domain.model",
    "Status": "consent_sync.domain.model",
    "Targets": "consent_sync.domain.model",
    "TimeKind": "consent_sync.domain.model",
    "Verdict": "consent_sync.domain.model",
    "reconcile": "consent_sync.domain.reconcile",
    "FieldInfo": "consent_sync.domain.records",
    "FieldWrite": "consent_sync.domain.records",
    "Page": "consent_sync.domain.records",
    "Quota": "consent_sync.domain.records",
    "Record": "consent_sync.domain.records",
    "WriteResult": "consent_sync.domain.records",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "LEGAL_BASES",
    "MANUAL_PREFIX",
    "SEVERITY",
    "Canonical",
    "Conflict",
    "ConflictKind",
    "Decision",
    "Evidence",
    "FieldInfo",
    "FieldRule",
    "FieldWrite",
    "IdentityError",
    "LinkKey",
    "MappedRecord",
    "MatchKeys",
    "MatchRule",
    "ObjectRule",
    "Observation",
    "Page",
    "Policy",
    "Purpose",
    "Quota",
    "RawValue",
    "Record",
    "Regime",
    "Resolution",
    "Severity",
    "Shadow",
    "Side",
    "Status",
    "SystemRule",
    "Targets",
    "TimeKind",
    "Verdict",
    "WriteResult",
    "held",
    "match_keys",
    "normalize_email",
    "normalize_phone",
    "observe",
    "pulled_fields",
    "pushed_field",
    "raw_for",
    "raw_values_for",
    "reconcile",
    "redact_email",
    "render",
    "status_for",
    "targets",
    "try_normalize_email",
]
