"""What Prometheus scrapes from a running daemon (on PostgreSQL): revocation time-to-apply, dead
letters, needs-review conflicts, quota as a share of the limit, the configured SLA and the
ledger's last verification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from consent_sync.store import Store
from support.convergence import quiescent, shared_granted_people
from support.daemon import Daemon, Harness
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 150
SANDBOX_SEED = 8
DATABASE = "pg_url"
COMPOSITE = r"/composite/sobjects"


def scrape(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = daemon.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _unsubscribe(harness: Harness, email: str) -> None:
    harness.act("hubspot", {"action": "unsubscribe", "email": email, "subscription_id": MARKETING})


def _in_salesforce(harness: Harness, email: str) -> bool:
    records = harness.salesforce_records(email)
    return bool(records) and all(r["HasOptedOutOfEmail"] is True for r in records)


def test_a_scrape_reports_time_to_apply_dead_letters_review_quota_sla_and_ledger(
    harness: Harness,
) -> None:
    """An unsubscribe that lands within seconds is observed in the low buckets of the
    time-to-apply histogram; a write refused for good shows as a dead letter and a needs-review
    conflict; quota is a share of the limit; the SLA and the ledger check are exported."""
    daemon = harness.daemon()
    daemon.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 60, "backfill")
        first, second = shared_granted_people(store, 2)
    before = scrape(daemon)
    histogram = "consent_sync_revocation_time_to_apply_seconds"
    applied = value(before, f"{histogram}_count", system="salesforce")
    fast = value(before, f"{histogram}_bucket", system="salesforce", le="60.0")
    assert applied is not None and fast is not None

    _unsubscribe(harness, first)
    wait_for(lambda: _in_salesforce(harness, first), 20, "the revocation in Salesforce")
    wait_for(
        lambda: value(scrape(daemon), f"{histogram}_count", system="salesforce") == applied + 1,
        10,
        "the write counted",
    )
    after = scrape(daemon)
    assert value(after, f"{histogram}_bucket", system="salesforce", le="60.0") == fast + 1

    (record,) = harness.salesforce_records(second)
    failure = {"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": "locked", "fields": []}
    body = [{"id": record["Id"], "success": False, "errors": [failure]}]
    with harness.control("salesforce") as salesforce:
        rule = {"path": COMPOSITE, "status": 200, "body": body}
        salesforce.put("/_sandbox/faults", json={"rules": [rule]}).raise_for_status()
    try:
        _unsubscribe(harness, second)
        wait_for(
            lambda: value(scrape(daemon), "consent_sync_dead_letters", system="salesforce") == 1,
            20,
            "the dead letter",
        )
    finally:
        with harness.control("salesforce") as salesforce:
            salesforce.put("/_sandbox/faults", json={}).raise_for_status()
    samples = scrape(daemon)
    assert value(samples, "consent_sync_dead_letters", system="hubspot") == 0
    review = value(samples, "consent_sync_conflicts_needs_review", system="salesforce")
    assert review is not None and review >= 1  # the push_rejected conflict
    for system in ("salesforce", "hubspot"):
        share = value(samples, "consent_sync_quota_used_ratio", system=system)
        assert share is not None and 0 < share < 1, system
        assert value(samples, "consent_sync_revocation_sla_seconds", system=system) == 900
        assert value(samples, "consent_sync_pull_interval_seconds", system=system) == 1
        pulled = value(
            samples, "consent_sync_last_success_timestamp_seconds", system=system, kind="pull"
        )
        assert pulled is not None and pulled > datetime.now(UTC).timestamp() - 60, system
    wait_for(
        lambda: value(scrape(daemon), "consent_sync_ledger_verification_ok") is not None,
        20,
        "the first ledger verification",
    )
    assert value(scrape(daemon), "consent_sync_ledger_verification_ok") == 1
    assert daemon.terminate() == 0
