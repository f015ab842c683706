"""`consent-sync bench`: the numbers that show it is fast, each as a ratio taken in the same run.

- backfill time ÷ the time the bare official client needs just to page through the same records;
- API calls ÷ the minimum the page and batch limits allow;
- propagation latency on the poll path (a HubSpot unsubscribe reaching Salesforce), p50/p99;
- idle-cycle cost (API calls and writes of a cycle with nothing to do);
- peak memory of this process.
"""

from __future__ import annotations

import math
import resource
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import urllib3
from hubspot import HubSpot
from simple_salesforce.api import Salesforce

from consent_sync.sync.report import CycleReport
from consent_sync_sandbox.stage import SYSTEMS, Stage, staged

SF_PAGE, SF_WRITE = 2000, 200
HS_PAGE, HS_BATCH = 100, 100
UNTHROTTLED = 10_000.0  # requests per second: no client-side budget to speak of
CONTROL_TIMEOUT = 60.0  # seconds per sandbox control call; the bench seeds 20,000 contacts a CRM

Say = Callable[[str], None]


@dataclass
class SystemFigures:
    """One system's backfill, against its ceiling and its minimum API calls."""

    records: int = 0
    seconds: float = 0.0
    bare_seconds: float = 0.0
    api_calls: int = 0
    minimum_calls: int = 0
    writes: int = 0

    @property
    def time_ratio(self) -> float:
        return self.seconds / self.bare_seconds if self.bare_seconds else math.inf

    @property
    def call_ratio(self) -> float:
        return self.api_calls / self.minimum_calls if self.minimum_calls else math.inf


@dataclass
class BenchResult:
    contacts: int
    systems: dict[str, SystemFigures] = field(default_factory=dict)
    backfill_seconds: float = 0.0
    idle_calls: dict[str, int] = field(default_factory=dict)
    idle_writes: int = 0
    latencies: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "contacts_per_crm": self.contacts,
            "backfill_seconds": round(self.backfill_seconds, 2),
            "systems": {
                name: {
                    "records": f.records,
                    "seconds": round(f.seconds, 2),
                    "bare_client_seconds": round(f.bare_seconds, 2),
                    "time_ratio": round(f.time_ratio, 2),
                    "api_calls": f.api_calls,
                    "minimum_calls": f.minimum_calls,
                    "call_ratio": round(f.call_ratio, 2),
                    "writes": f.writes,
                }
                for name, f in self.systems.items()
            },
            "idle_cycle": {"api_calls": self.idle_calls, "writes": self.idle_writes},
            "propagation_seconds": {
                "samples": len(lat),
                "p50": round(statistics.median(lat), 3) if lat else None,
                "p99": round(lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)], 3)
                if lat
                else None,
            },
            "peak_rss_mib": round(self.peak_rss_mib, 1),
        }


def run_bench(
    work_dir: Path, contacts: int, config_dir: Path, say: Say, samples: int = 20
) -> BenchResult:
    """Seed both sandboxes, measure the bare clients, then backfill, idle and propagate."""
    result = BenchResult(contacts)
    with staged(work_dir, contacts, config_dir, rate=UNTHROTTLED) as stage:
        env = stage.sandbox.env
        # The figures are about the software: quotas off on both sides (in production the
        # HubSpot portal's 100-190 calls per 10 s bound a backfill, whoever makes the calls).
        with stage.control("hubspot", timeout=CONTROL_TIMEOUT) as hs:
            hs.put(
                "/_sandbox/limits",
                json={"max_per_interval": 10**9, "search_per_second": 10**6, "daily": 10**9},
            ).raise_for_status()
        say(f"bare clients paging through {contacts} contacts per CRM ...")
        bare = {
            "salesforce": _bare_salesforce(env),
            "hubspot": _bare_hubspot(env),
        }
        for name in SYSTEMS:
            _reset_stats(stage, name)
        say("backfill ...")
        started = time.monotonic()
        reports: dict[str, list[CycleReport]] = {name: [] for name in SYSTEMS}
        for _ in range(4):
            quiet = True
            for name in SYSTEMS:
                report = stage.engine.cycle(name)
                reports[name].append(report)
                quiet = quiet and report.decisions == 0 and report.writes_ok == 0
            if quiet:
                break
        result.backfill_seconds = time.monotonic() - started
        for name in SYSTEMS:
            figures = SystemFigures(
                records=reports[name][0].records_read,
                seconds=sum(r.duration_s for r in reports[name]),
                bare_seconds=bare[name],
                api_calls=_api_calls(stage, name),
                writes=sum(r.writes_ok for r in reports[name]),
            )
            figures.minimum_calls = _minimum_calls(name, contacts, figures.writes)
            result.systems[name] = figures
        say("idle cycle ...")
        for name in SYSTEMS:
            _reset_stats(stage, name)
            report = stage.engine.cycle(name)
            result.idle_writes += report.writes_ok
            result.idle_calls[name] = _api_calls(stage, name)
        say(f"propagation: {samples} HubSpot unsubscribes, each polled to Salesforce ...")
        result.latencies = _propagation(stage, samples)
    result.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _minimum_calls(system: str, contacts: int, writes: int) -> int:
    """Calls the page and batch limits allow at best: one pass of pages, full write batches."""
    if system == "salesforce":
        # Contact pages; one (empty) Lead query; composite writes of 200.
        return math.ceil(contacts / SF_PAGE) + 1 + math.ceil(writes / SF_WRITE)
    # List pages of 100 and one v4 status read per page; writes: batch update or v4 write.
    return 2 * math.ceil(contacts / HS_PAGE) + math.ceil(writes / HS_BATCH)


def _reset_stats(stage: Stage, system: str) -> None:
    with stage.control(system, timeout=CONTROL_TIMEOUT) as client:
        client.delete("/_sandbox/stats").raise_for_status()


def _api_calls(stage: Stage, system: str) -> int:
    with stage.control(system, timeout=CONTROL_TIMEOUT) as client:
        return int(client.get("/_sandbox/stats").json()["total"])


def _bare_salesforce(env: dict[str, str]) -> float:
    session = requests.Session()
    session.trust_env = False
    session.verify = env["SALESFORCE_CA_FILE"]
    token = session.post(
        env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["SALESFORCE_CLIENT_ID"],
            "client_secret": env["SALESFORCE_CLIENT_SECRET"],
        },
        timeout=30,
    ).json()
    sf = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )
    started = time.monotonic()
    fields = "Id, SystemModstamp, IsDeleted, Email, HasOptedOutOfEmail, DoNotCall, HasOptedOutOfFax"
    query = f"SELECT {fields}, SMS_Consent__c FROM Contact ORDER BY SystemModstamp, Id"  # noqa: S608
    for _ in sf.query_all_iter(query, include_deleted=True):
        pass
    return time.monotonic() - started


def _bare_hubspot(env: dict[str, str]) -> float:
    client = HubSpot(
        access_token=env["HUBSPOT_ACCESS_TOKEN"],
        host=env["HUBSPOT_BASE_URL"],
        ssl_ca_cert=env["HUBSPOT_CA_FILE"],
        retry=urllib3.Retry(total=0, respect_retry_after_header=False, raise_on_status=False),
    )
    api = client.crm.contacts.basic_api
    trust = ssl.create_default_context(cafile=env["HUBSPOT_CA_FILE"])
    http = httpx.Client(
        base_url=env["HUBSPOT_BASE_URL"],
        verify=trust,
        headers={"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"},
    )
    started = time.monotonic()
    after = None
    with http:
        while True:
            page = api.get_page(
                limit=HS_PAGE,
                after=after,
                properties=["email", "sms_consent", "phone_consent", "lastmodifieddate"],
            )
            emails = [r.properties.get("email") for r in page.results if r.properties.get("email")]
            http.post(
                "/communication-preferences/v4/statuses/batch/read",
                params={"channel": "EMAIL"},
                json={"inputs": emails},
            ).raise_for_status()
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after
    return time.monotonic() - started


def _propagation(stage: Stage, samples: int) -> list[float]:
    """Unsubscribe people in HubSpot one at a time; time until Salesforce holds the denial."""
    latencies: list[float] = []
    for email in stage.shared_agreeing_emails():
        if len(latencies) >= samples:
            break
        if stage.salesforce_opted_out(email):
            continue
        stage.unsubscribe_in_hubspot(email)
        started = time.monotonic()
        for _ in range(5):
            stage.engine.cycle("hubspot")
            stage.engine.cycle("salesforce")
            if stage.salesforce_opted_out(email):
                latencies.append(time.monotonic() - started)
                break
    return latencies
