"""The public surface of each package, pinned (as httpx pins its own): a change to what a
package exports is a decision, made here on purpose, not a side effect of a refactor."""

from __future__ import annotations

import importlib

import pytest

#: Package -> the names its `__all__` exports.
PUBLIC: dict[str, tuple[str, ...]] = {
    "consent_sync.cli": (
        "app",
        "main",
    ),
    "consent_sync.errors": ("ConsentSyncError",),
    "consent_sync.api": (
        "API_PREFIX",
        "MAX_BODY_BYTES",
        "ApiContext",
        "ApiError",
        "TokenGate",
        "bearer_token",
        "create_api",
        "guard_metrics",
        "require",
    ),
    "consent_sync.console": (
        "CONSOLE_PREFIX",
        "ConsoleContext",
        "LedgerResult",
        "create_console",
        "mount_console",
    ),
    "consent_sync.domain": (
        "Canonical",
        "Conflict",
        "ConflictKind",
        "Decision",
        "Evidence",
        "FieldInfo",
        "FieldRule",
        "FieldWrite",
        "IdentityError",
        "LEGAL_BASES",
        "LinkKey",
        "MANUAL_PREFIX",
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
        "SEVERITY",
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
    ),
    "consent_sync.config": (
        "CONFIG_ENV",
        "ConfigError",
        "ConfigIssue",
        "ConnectorConfig",
        "DeploymentConfig",
        "FieldMapping",
        "HubSpotAuth",
        "HubSpotConnector",
        "Limits",
        "MatchKeys",
        "ObjectMapping",
        "RawValue",
        "SUBSCRIPTION_STATES",
        "SalesforceAuth",
        "SalesforceConnector",
        "Schedule",
        "SystemMapping",
        "default_config_dir",
        "load_config",
        "load_purposes",
        "revocation_slas",
    ),
    "consent_sync.store": (
        "Applied",
        "Browse",
        "Coordination",
        "Decisions",
        "Outbox",
        "Views",
        "Webhooks",
        "ConflictNotFoundError",
        "ConflictNotResolvableError",
        "DecisionRefusedError",
        "DEFAULT_URL",
        "Delivery",
        "IngestReport",
        "LedgerCheck",
        "LedgerProblem",
        "OutboxItem",
        "OutboxItemNotFoundError",
        "OutboxState",
        "PendingReads",
        "PendingWrite",
        "SchemaOutdatedError",
        "Scope",
        "Store",
        "StoreError",
        "SubjectNotFoundError",
        "SubjectView",
        "SyncRunNotFoundError",
        "TokenInfo",
        "Tokens",
        "URL_ENV",
        "UnknownPurposeError",
        "UnlinkedObservationError",
        "UnsupportedDatabaseError",
        "WebhookNotice",
        "database_url",
        "redact_url",
    ),
    "consent_sync.connectors": (
        "AuthError",
        "Connector",
        "ConnectorError",
        "PermanentError",
        "QuotaExhausted",
        "TransientError",
    ),
    "consent_sync.connectors.salesforce": (
        "SalesforceConnector",
        "SalesforceCredentials",
        "SalesforceSettings",
    ),
    "consent_sync.connectors.hubspot": (
        "HubSpotConnector",
        "HubSpotSettings",
    ),
    "consent_sync.connectors.declarative": (
        "DeclarativeConnector",
        "DeclarativeSettings",
    ),
    "consent_sync.sync": (
        "CycleReport",
        "SyncEngine",
    ),
    "consent_sync.daemon": (
        "HttpServer",
        "Leases",
        "NamedReads",
        "SyncMetrics",
        "SyncScheduler",
        "health_app",
        "lease_name",
        "readiness_problems",
        "webhook_router",
    ),
    "consent_sync.daemon.http": (
        "HttpServer",
        "MalformedWebhook",
        "health_app",
        "readiness_problems",
        "signature_v3",
        "signature_valid",
        "webhook_router",
    ),
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_each_package_exports_exactly_its_pinned_surface(package: str) -> None:
    """`__all__` lists exactly the pinned names, each of them importable from the package."""
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_every_package_of_the_product_declares_its_surface() -> None:
    """Every package under consent_sync has an explicit `__all__` and is pinned here."""
    import pkgutil

    import consent_sync

    packages = {
        info.name
        for info in pkgutil.walk_packages(consent_sync.__path__, "consent_sync.")
        if info.ispkg and ".migrations" not in info.name
    }
    assert sorted(packages - set(PUBLIC)) == []
    for package in packages:
        assert isinstance(importlib.import_module(package).__all__, list), package
