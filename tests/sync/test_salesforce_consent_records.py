"""Salesforce's consent data model end to end: both sandboxes over HTTPS, the official clients,
the repository's own connectors/ and mappings/, the engine and a real SQLite store
(docs/design.md, "Salesforce consent records").

The tests run in order on one world: a backfill; a rep recording an OptOut consent record for
someone subscribed in HubSpot; HubSpot unsubscribes that update, and create, consent records;
a consent record whose window closes.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.connectors.salesforce.consent_records import sf_datetime
from consent_sync.domain.model import Evidence, Observation, Status, TimeKind
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from consent_sync_sandbox.salesforce import build_salesforce
from support.databases import migrate
from support.paths import REPO
from support.salesforce_emulator import Served, serve
from support.sandboxes import MARKETING, sandbox_control

CONTACTS = 500
CONSENT = "ContactPointTypeConsent"


@dataclass
class World:
    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine
    sf: Salesforce

    def cycle(self, system: str) -> CycleReport:
        return self.engine.cycle(system)

    def control(self, system: str) -> httpx.Client:
        return sandbox_control(self.sandbox, system, timeout=10)

    def unsubscribe_in_hubspot(self, email: str) -> None:
        """The person unsubscribes from marketing email in HubSpot."""
        with self.control("hubspot") as hs:
            hs.post(
                "/_sandbox/act",
                json={"action": "unsubscribe", "email": email, "subscription_id": MARKETING},
            ).raise_for_status()

    def hubspot_status(self, email: str) -> str:
        with self.control("hubspot") as hs:
            answer = hs.get("/_sandbox/contacts", params={"email": email})
        if answer.status_code == 404:
            return "NO CONTACT"
        answer.raise_for_status()
        contact = answer.json()
        return str(contact["subscriptions"].get(str(MARKETING), {}).get("status", "NOT_SPECIFIED"))

    def canonical(self, email: str, purpose: str = "email_marketing") -> str:
        states = {s.purpose: s.status for s in self.store.views.subject(email).states}
        return states.get(purpose, "unknown")

    def email_marketing_id(self) -> str:
        rows = self.sf.query("SELECT Id FROM DataUsePurpose WHERE Name = 'Email Marketing'")
        return str(rows["records"][0]["Id"])

    def consent_records(self, individual: str) -> list[dict[str, Any]]:
        """The Email Marketing consent records of one Individual, as Salesforce holds them."""
        soql = format_soql(
            "SELECT Id, PrivacyConsentStatus, CaptureDate, CaptureSource, EffectiveFrom, "
            "EffectiveTo FROM ContactPointTypeConsent WHERE PartyId = {party} "
            "AND DataUsePurposeId = {purpose} AND ContactPointType = 'Email'",
            party=individual,
            purpose=self.email_marketing_id(),
        )
        return list(self.sf.query_all(soql)["records"])


def _simple_salesforce(env: dict[str, str]) -> Salesforce:
    """simple-salesforce as a rep's tooling would use it: a client-credentials token."""
    url = env["SALESFORCE_LOGIN_URL"]
    token = httpx.post(
        f"{url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["SALESFORCE_CLIENT_ID"],
            "client_secret": env["SALESFORCE_CLIENT_SECRET"],
        },
        verify=ssl.create_default_context(cafile=env["SALESFORCE_CA_FILE"]),
    ).json()["access_token"]
    session = requests.Session()
    session.verify = env["SALESFORCE_CA_FILE"]
    session.trust_env = False
    return Salesforce(instance_url=url, session_id=token, session=session, version="62.0")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("consent-records")
    sandbox = start_sandbox(root / "sandbox", contacts=CONTACTS, seed=11)
    url = migrate(f"sqlite:///{root / 'consent-sync.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in ("salesforce", "hubspot")
    }
    store = Store.open(url)
    sf = _simple_salesforce(sandbox.env)
    try:
        engine = SyncEngine(store, config, connectors)
        yield World(sandbox, config, connectors, store, engine, sf)
    finally:
        sf.session.close()
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


@dataclass(frozen=True)
class Person:
    email: str
    individual: str
    records: tuple[str, ...]  # Email Marketing consent records, OptIn ones


def _subscribed_people(world: World) -> tuple[list[Person], list[Person]]:
    """People granted email marketing (subscribed in HubSpot) with an Individual: those
    whose Individual holds an OptIn Email Marketing record, and those holding none."""
    recorded: dict[str, list[dict[str, Any]]] = {}
    soql = format_soql(
        "SELECT Id, PartyId, PrivacyConsentStatus, EffectiveTo FROM ContactPointTypeConsent "
        "WHERE DataUsePurposeId = {purpose} AND ContactPointType = 'Email'",
        purpose=world.email_marketing_id(),
    )
    for row in world.sf.query_all(soql)["records"]:
        recorded.setdefault(row["PartyId"], []).append(row)
    with_records: list[Person] = []
    without: list[Person] = []
    contacts = world.sf.query_all(
        "SELECT Email, IndividualId FROM Contact WHERE IndividualId != null ORDER BY Id"
    )["records"]
    for contact in contacts:
        email, individual = contact["Email"], contact["IndividualId"]
        if world.canonical(email) != "granted" or world.hubspot_status(email) != "SUBSCRIBED":
            continue
        rows = recorded.get(individual, [])
        opted_in = tuple(
            r["Id"] for r in rows if r["PrivacyConsentStatus"] == "OptIn" and not r["EffectiveTo"]
        )
        if not rows:
            without.append(Person(email, individual, ()))
        elif len(rows) == len(opted_in):
            with_records.append(Person(email, individual, opted_in))
    return with_records, without


@pytest.fixture(scope="module")
def people(world: World) -> tuple[list[Person], list[Person]]:
    """After the backfill: who the later tests act for."""
    for _ in range(2):
        for system in ("salesforce", "hubspot"):
            world.cycle(system)
    with_records, without = _subscribed_people(world)
    assert len(with_records) >= 2 and len(without) >= 3, (len(with_records), len(without))
    return with_records, without


def test_after_the_backfill_consent_records_are_links_and_a_cycle_changes_nothing(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """I3: consent records are read and settled like any record: no decision, no write."""
    for system in ("salesforce", "hubspot"):
        report = world.cycle(system)
        assert report.decisions == 0 and report.writes_ok == 0, report
    person = people[0][0]
    links = world.store.views.subject(person.email).links
    assert {link.record_id for link in links if link.object_type == CONSENT} >= set(person.records)


def test_an_opt_out_recorded_in_salesforce_reaches_hubspot_as_unsubscribed(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """A rep records an OptOut consent record through simple-salesforce for a person
    subscribed in HubSpot: the store denies, HubSpot unsubscribes, the Contact is ticked."""
    person = people[1][0]
    captured = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    created = world.sf.ContactPointTypeConsent.create(
        {
            "Name": "Email Marketing (Email)",
            "PartyId": person.individual,
            "DataUsePurposeId": world.email_marketing_id(),
            "ContactPointType": "Email",
            "PrivacyConsentStatus": "OptOut",
            "CaptureDate": sf_datetime(captured),
            "CaptureSource": "Phone call",
            "CaptureContactPointType": "Phone",
        }
    )
    world.cycle("salesforce")
    world.cycle("hubspot")
    assert world.hubspot_status(person.email) == "UNSUBSCRIBED"
    assert world.canonical(person.email) == "denied"
    revocation = world.store.views.subject(person.email).timeline[-1]
    assert revocation.status == "denied" and revocation.source == "salesforce"
    assert revocation.time_kind == "field" and revocation.decided_at == captured
    assert revocation.evidence["source_record"] == f"salesforce/{CONSENT}/{created['id']}"
    assert revocation.evidence["collection_method"] == "Phone call"
    contacts = world.sf.query_all(
        format_soql("SELECT HasOptedOutOfEmail FROM Contact WHERE Email = {e}", e=person.email)
    )["records"]
    assert contacts and all(c["HasOptedOutOfEmail"] is True for c in contacts)


def test_a_hubspot_unsubscribe_updates_the_persons_consent_record(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """Their OptIn record becomes OptOut, captured when HubSpot's unsubscribe happened and
    where; the next pull reads it back as our own write: nothing more happens."""
    person = people[0][0]
    world.unsubscribe_in_hubspot(person.email)
    world.cycle("hubspot")
    report = world.cycle("salesforce")
    assert report.writes_ok >= len(person.records) + 1  # the records and the Contact's box
    decision = world.store.views.subject(person.email).timeline[-1]
    assert decision.source == "hubspot" and decision.status == "denied"
    for record in world.consent_records(person.individual):
        assert record["PrivacyConsentStatus"] == "OptOut"
        assert record["CaptureSource"] == "consent-sync (hubspot)"
        assert datetime.fromisoformat(record["CaptureDate"]) == decision.decided_at.replace(
            microsecond=decision.decided_at.microsecond // 1000 * 1000
        )
        assert record["EffectiveTo"] is None
    again = world.cycle("salesforce")
    assert again.decisions == 0 and again.writes_ok == 0, again


def test_a_hubspot_unsubscribe_creates_a_consent_record_where_the_person_has_none(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """Someone with an Individual but no Email Marketing record gets one, OptOut; the next
    pull links it to them without a decision or a write."""
    person = people[1][1]
    assert world.consent_records(person.individual) == []
    world.unsubscribe_in_hubspot(person.email)
    world.cycle("hubspot")
    world.cycle("salesforce")
    (created,) = world.consent_records(person.individual)
    assert created["PrivacyConsentStatus"] == "OptOut"
    assert created["CaptureSource"] == "consent-sync (hubspot)"
    assert created["CaptureDate"] is not None
    report = world.cycle("salesforce")
    assert report.decisions == 0 and report.writes_ok == 0, report
    links = world.store.views.subject(person.email).links
    assert created["Id"] in {link.record_id for link in links if link.object_type == CONSENT}


def test_a_grant_made_before_the_created_record_is_read_is_not_undone_by_it(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """The consent record created for a revocation is linked as it is written. An on-call
    grants the person again before any pull reads it: the read is our own write coming back,
    not a revocation older than their grant (no stale_override), and their grant reaches the
    Contact."""
    person = people[1][2]
    world.unsubscribe_in_hubspot(person.email)
    world.cycle("hubspot")
    world.engine.cycle("salesforce", pull=False)  # written and created, not read yet
    (created,) = world.consent_records(person.individual)
    assert created["PrivacyConsentStatus"] == "OptOut"
    links = world.store.views.subject(person.email).links
    assert created["Id"] in {link.record_id for link in links if link.object_type == CONSENT}

    now = datetime.now(UTC)
    proof = Evidence("manual:oncall", actor="oncall", note="customer confirmed by phone")
    grant = Observation(
        "manual:oncall", None, "email_marketing", Status.GRANTED, now, TimeKind.ASSERTED, proof
    )
    world.store.decisions.record(
        person.email, grant, world.engine.config.purposes, now, world.engine.targets
    )
    report = world.cycle("salesforce")

    assert report.decisions == 0 and not report.conflicts["stale_override"], report
    assert world.canonical(person.email) == "granted"
    assert world.store.views.subject(person.email).timeline[-1].source == "manual:oncall"
    contacts = world.sf.query_all(
        format_soql("SELECT HasOptedOutOfEmail FROM Contact WHERE Email = {e}", e=person.email)
    )["records"]
    assert contacts and all(c["HasOptedOutOfEmail"] is False for c in contacts)


def test_a_consent_record_whose_effective_to_has_passed_counts_as_no_consent(
    world: World, people: tuple[list[Person], list[Person]]
) -> None:
    """A rep closes an opt-in's window (EffectiveTo yesterday): that consent has lapsed, so the
    person is denied, decided when it lapsed, and HubSpot unsubscribes them."""
    person = people[0][1]
    lapsed = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for record in person.records:
        world.sf.ContactPointTypeConsent.update(record, {"EffectiveTo": sf_datetime(lapsed)})
    world.cycle("salesforce")
    assert world.canonical(person.email) == "denied"
    decision = world.store.views.subject(person.email).timeline[-1]
    assert decision.source == "salesforce" and decision.decided_at == lapsed
    assert decision.evidence["extra"]["effective_to"] == lapsed.isoformat()
    world.cycle("hubspot")
    assert world.hubspot_status(person.email) == "UNSUBSCRIBED"
    # consent-sync records nothing on the lapsed record itself: it already says no.
    assert all(
        r["CaptureSource"] != "consent-sync (salesforce)"
        for r in world.consent_records(person.individual)
    )


# -- the cross-check: a fresh org, Salesforce's own aggregation against ours ----------------

CROSS_CHECKED = 200


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Store]]:
    """A fresh org of 2,000 people (a third also Leads), pulled once into a new store with the
    shipped Salesforce configuration, nothing pushed: the store holds what the records say."""
    root = tmp_path_factory.mktemp("consent-api")
    served = serve(build_salesforce(2000, seed=5, lead_share=0.3), root / "org")
    config_dir = root / "config"
    for folder in ("connectors", "mappings"):
        (config_dir / folder).mkdir(parents=True)
    for system in ("salesforce", "hubspot"):  # HubSpot is a grant source: it must be configured
        shutil.copy(REPO / "connectors" / f"{system}.yaml", config_dir / "connectors")
        shutil.copy(REPO / "mappings" / f"{system}.yaml", config_dir / "mappings")
    shutil.copy(REPO / "mappings" / "purposes.yaml", config_dir / "mappings")
    unused = {"HUBSPOT_BASE_URL": "https://127.0.0.1:9", "HUBSPOT_ACCESS_TOKEN": "unused"}
    unused |= {"HUBSPOT_CLIENT_SECRET": "unused", "HUBSPOT_CA_FILE": ""}
    config = load_config(config_dir, env={**served.env, **unused})
    connector = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    store = Store.open(migrate(f"sqlite:///{root / 'consent-sync.db'}"))
    try:
        SyncEngine(store, config, {"salesforce": connector}).cycle("salesforce", push=False)
        yield served, store
    finally:
        store.close()
        connector.close()
        served.stop()


def _cross_checked_people(sf: Salesforce) -> list[str]:
    """200 people, those with consent records and Leads first: where aggregation can go wrong."""
    purpose = sf.query("SELECT Id FROM DataUsePurpose WHERE Name = 'Email Marketing'")
    recorded = {
        row["PartyId"]
        for row in sf.query_all(
            format_soql(
                "SELECT PartyId FROM ContactPointTypeConsent WHERE DataUsePurposeId = {p}",
                p=purpose["records"][0]["Id"],
            )
        )["records"]
    }
    leads = {row["Email"].lower() for row in sf.query_all("SELECT Email FROM Lead")["records"]}
    contacts = sf.query_all("SELECT Email, IndividualId FROM Contact ORDER BY Id")["records"]
    emails = [c["Email"].lower() for c in contacts]
    first = [c["Email"].lower() for c in contacts if c["IndividualId"] in recorded]
    then = [e for e in emails if e in leads]
    return list(dict.fromkeys([*first[:120], *then[:40], *emails]))[:CROSS_CHECKED]


def test_for_two_hundred_seeded_people_our_answer_is_the_consent_apis(
    fresh: tuple[Served, Store],
) -> None:
    """May we send them marketing email? The store's state after reading their Contacts,
    Leads and consent records answers as Salesforce's Consent API does, person by person
    (`consent/action/email?purpose=Email Marketing`) and aggregated."""
    served, store = fresh
    sf = served.client()
    people = _cross_checked_people(sf)
    answer = sf.restful(
        "consent/action/email", params={"ids": ",".join(people), "purpose": "Email Marketing"}
    )
    assert answer is not None
    theirs = {email: answer[email]["proceed"]["email"] == "true" for email in people}
    states = {email: store.views.subject(email) for email in people}
    ours = {
        email: {s.purpose: s.status for s in view.states}.get("email_marketing") != "denied"
        for email, view in states.items()
    }
    assert ours == theirs
    assert 20 <= sum(not v for v in theirs.values()) <= CROSS_CHECKED - 20  # both answers occur
    # People whose "no" the store took from a consent record (an opt-out, a lapsed opt-in):
    # there our answer comes from the consent records, as Salesforce's does.
    decided_by_records = [
        email
        for email, view in states.items()
        if not ours[email]
        and f"/{CONSENT}/"
        in [r for r in view.timeline if r.purpose == "email_marketing"][-1].evidence[
            "source_record"
        ]
    ]
    assert len(decided_by_records) >= 5, decided_by_records
    aggregated = sf.restful(
        "consent/action/email",
        params={"ids": ",".join(people), "purpose": "Email Marketing", "aggregatedConsent": "true"},
    )
    assert aggregated is not None
    ((_, together),) = aggregated.items()
    assert (together["proceed"]["email"] == "true") is all(ours.values())
