"""The alert rules and the Grafana dashboard in deploy/ speak of series the daemon exports: a
renamed metric would leave an alert that never fires, so every name they use is checked
against the daemon's registry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import yaml
from prometheus_client import CollectorRegistry

from consent_sync.daemon.metrics import SyncMetrics, SystemSettings
from consent_sync.store import Store
from support.paths import REPO

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "consent-sync.json"
_NAME = re.compile(r"\bconsent_sync_[a-z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry's families expose (a counter `x` as `x_total`, ...)."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_alert_rules_cover_what_on_call_needs() -> None:
    """SLA breach, dead letters, quota near its limit, no successful pull, a failed ledger check."""
    assert {
        "ConsentSyncRevocationSlaBreached",
        "ConsentSyncDeadLetters",
        "ConsentSyncQuotaNearLimit",
        "ConsentSyncNoSuccessfulPull",
        "ConsentSyncLedgerVerificationFailed",
    } <= set(alert_expressions())


def test_alerts_and_dashboard_use_only_series_the_daemon_exports(store: Store) -> None:
    """Every consent_sync_* name in alerts.yml and the dashboard is in the daemon's registry."""
    metrics = SyncMetrics(store, ("salesforce", "hubspot"))
    metrics.configure_system("salesforce", SystemSettings(60, 900))
    metrics.ledger_verified(True, datetime.now(UTC))
    exported = exported_names(metrics.registry)
    for source, expressions in (
        ("alerts.yml", list(alert_expressions().values())),
        ("consent-sync.json", dashboard_expressions()),
    ):
        used = {name for expr in expressions for name in _NAME.findall(expr)}
        assert used, source
        assert used <= exported, (
            f"{source} uses series the daemon does not export: {used - exported}"
        )


def test_the_names_check_catches_a_series_nobody_exports(store: Store) -> None:
    """The check above is not vacuous: a misspelt series is not among the exported names."""
    exported = exported_names(SyncMetrics(store, ("salesforce",)).registry)
    assert "consent_sync_dead_letters" in exported
    assert "consent_sync_revocation_time_to_apply_seconds_bucket" in exported
    assert "consent_sync_dead_letter" not in exported
