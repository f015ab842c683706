"""What the benchmark reads with the bare official clients: the ceiling, and the data check.

The ceiling is the time the official client needs just to page through the records the backfill
read, with nothing done with them. For Salesforce that is every object the mapping reads —
Contact, Lead and its consent-records objects (only their mapped DataUsePurposes) — each the
fastest documented way the connector could have used: a Bulk API 2.0 query job
(simple-salesforce's `bulk2`) for an object over the connector's `bulk_threshold`, REST
`query_all` otherwise, as its full read decides. The same readers give the data check under
faults: which emails each CRM holds as opted out of marketing email.
"""

from __future__ import annotations

import csv
import io
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import urllib3
from hubspot import HubSpot
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from consent_sync.config import load_config
from consent_sync.config.connector_settings import SalesforceConnector
from consent_sync.connectors.salesforce.consent_records import OWNER_FIELD, STATE_FIELDS
from consent_sync.domain.mapping import pulled_fields
from consent_sync_sandbox.hubspot.props import MARKETING_SUBSCRIPTION_ID

HS_PAGE = 100  # HubSpot's list page maximum, and its v4 batch read maximum
STATUS_READ = "/communication-preferences/v4/statuses/batch/read"
WIDE_READ = "/communication-preferences/v4/statuses/batch/unsubscribe-all/read"
SF_FIELDS = "Id, SystemModstamp, IsDeleted, Email, HasOptedOutOfEmail, DoNotCall, HasOptedOutOfFax"
SF_OBJECTS = ("Contact", "Lead")
SF_SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")


@dataclass
class Holdings:
    """One CRM's marketing-email state, by lower-cased email."""

    emails: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SalesforceRead:
    """One object the bare Salesforce client pages: its SOQL, and whether as a Bulk API 2.0 job."""

    sobject: str
    soql: str
    bulk: bool


def salesforce_reads(env: dict[str, str], config_dir: Path) -> list[SalesforceRead]:
    """What a minimal reader of the configured Salesforce mapping pages, with the fields the
    connector selects: Contacts and Leads whole, and each consent-records object's records of
    its mapped DataUsePurposes only, as the connector reads them (filtered on
    `DataUsePurpose.Name`, which needs no lookup of the purposes' ids first).

    Each object over the connector's `bulk_threshold` (counted here, deleted records too, with
    calls made before the benchmark counts the bare reader's) is read as a query job.
    """
    config = load_config(config_dir, env=env)
    connector = config.connectors["salesforce"]
    if not isinstance(connector, SalesforceConnector):
        raise TypeError(f"the salesforce connector is configured as {type(connector).__name__}")
    threshold = connector.limits.bulk_threshold
    sf = salesforce_client(env)
    reads: list[SalesforceRead] = []
    try:
        for sobject, mapping in config.mappings["salesforce"].objects.items():
            if mapping.kind == "consent_records":
                purposes = sorted({entry.data_use_purpose for entry in mapping.consents})
                where = format_soql(" WHERE DataUsePurpose.Name IN {}", purposes)
                channel = ("ContactPointType",) if sobject == "ContactPointTypeConsent" else ()
                fields: Sequence[str] = (OWNER_FIELD[sobject], *channel, *STATE_FIELDS)
            else:
                where, fields = "", pulled_fields(mapping)
            selected = ", ".join(dict.fromkeys((*SF_SYSTEM_FIELDS, *fields)))
            counted = f"SELECT COUNT() FROM {sobject}{where}"  # noqa: S608
            total = int(sf.query(counted, include_deleted=True)["totalSize"])
            soql = f"SELECT {selected} FROM {sobject}{where} ORDER BY SystemModstamp, Id"  # noqa: S608
            reads.append(SalesforceRead(sobject, soql, total > threshold))
    finally:
        sf.session.close()
    return reads


def salesforce_client(env: dict[str, str]) -> Salesforce:
    """simple-salesforce on a client-credentials token from the sandbox's connected app."""
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
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )


def _soql(sobject: str) -> str:
    return f"SELECT {SF_FIELDS}, SMS_Consent__c FROM {sobject} ORDER BY SystemModstamp, Id"  # noqa: S608


def salesforce_rows(sf: Salesforce, sobject: str, bulk: bool) -> Iterator[dict[str, Any]]:
    """Every record of `sobject` (deleted ones too), through Bulk API 2.0 or REST."""
    if bulk:
        for page in getattr(sf.bulk2, sobject).query_all(_soql(sobject), wait=0.2):
            yield from csv.DictReader(io.StringIO(page))
    else:
        yield from sf.query_all_iter(_soql(sobject), include_deleted=True)


def bare_salesforce(env: dict[str, str], reads: Sequence[SalesforceRead]) -> float:
    """Seconds simple-salesforce needs to page through every mapped object's records."""
    sf = salesforce_client(env)
    started = time.monotonic()
    for read in reads:
        if read.bulk:
            for page in getattr(sf.bulk2, read.sobject).query_all(read.soql, wait=0.2):
                for _ in csv.DictReader(io.StringIO(page)):
                    pass
        else:
            for _ in sf.query_all_iter(read.soql, include_deleted=True):
                pass
    return time.monotonic() - started


def _hubspot_pages(env: dict[str, str]) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
    """Each list page's emails with their v4 subscription statuses (two calls a page, three
    when someone on it opted out of all email)."""
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
        timeout=60,
    )
    after = None
    with http:
        while True:
            page = api.get_page(
                limit=HS_PAGE,
                after=after,
                properties=[
                    "email",
                    "sms_consent",
                    "phone_consent",
                    "hs_email_optout",
                    "lastmodifieddate",
                ],
            )
            emails = [r.properties.get("email") for r in page.results if r.properties.get("email")]
            response = http.post(STATUS_READ, params={"channel": "EMAIL"}, json={"inputs": emails})
            response.raise_for_status()
            # The mapping reads "unsubscribe from all" too: when, for those who have one.
            wide = [
                r.properties["email"]
                for r in page.results
                if r.properties.get("email") and r.properties.get("hs_email_optout") == "true"
            ]
            if wide:
                http.post(
                    WIDE_READ, params={"channel": "EMAIL"}, json={"inputs": wide}
                ).raise_for_status()
            yield emails, list(response.json().get("results", []))
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after


def bare_hubspot(env: dict[str, str]) -> float:
    """Seconds hubspot-api-client needs to page through the contacts and their statuses."""
    started = time.monotonic()
    for _ in _hubspot_pages(env):
        pass
    return time.monotonic() - started


def hubspot_holdings(env: dict[str, str]) -> Holdings:
    """Which emails HubSpot holds, and which are unsubscribed from marketing email."""
    held = Holdings()
    for emails, results in _hubspot_pages(env):
        held.emails.update(e.lower() for e in emails)
        for result in results:
            for status in result.get("statuses", []):
                if (
                    status.get("subscriptionId") == MARKETING_SUBSCRIPTION_ID
                    and status.get("status") == "UNSUBSCRIBED"
                ):
                    held.opted_out.add(str(result["subscriberIdString"]).lower())
    return held


def salesforce_holdings(env: dict[str, str]) -> Holdings:
    """Which emails live Salesforce records hold, and which have Email Opt Out ticked.

    An email counts as opted out when every live record of it is ticked (what I1 asks).
    """
    sf = salesforce_client(env)
    held = Holdings()
    unticked: set[str] = set()
    for sobject in SF_OBJECTS:
        for row in salesforce_rows(sf, sobject, False):
            email = row.get("Email")
            if not email or row.get("IsDeleted") in (True, "true"):
                continue
            email = str(email).lower()
            held.emails.add(email)
            if row.get("HasOptedOutOfEmail") in (True, "true"):
                held.opted_out.add(email)
            else:
                unticked.add(email)
    held.opted_out -= unticked
    return held
