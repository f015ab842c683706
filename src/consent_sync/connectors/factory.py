"""Build a connector from its deployment configuration and its mapping."""

from __future__ import annotations

from consent_sync.config import (
    ConnectorConfig,
    ObjectMapping,
    SystemMapping,
)
from consent_sync.config import (
    HubSpotConnector as HubSpotConfig,
)
from consent_sync.config import (
    SalesforceConnector as SalesforceConfig,
)
from consent_sync.config.connector_settings import DeclarativeConnector as DeclarativeConfig
from consent_sync.connectors.hubspot.connector import OBJECT_TYPE, HubSpotConnector, HubSpotSettings
from consent_sync.connectors.protocol import Connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.connectors.salesforce.auth import SalesforceCredentials
from consent_sync.connectors.salesforce.connector import SalesforceConnector, SalesforceSettings
from consent_sync.connectors.salesforce.consent_records import ConsentEntry, ConsentObject
from consent_sync.connectors.salesforce.implied_records import ImpliedRecord, ImpliedRecords
from consent_sync.domain.mapping import pulled_fields, render
from consent_sync.domain.model import Status


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else None


def build_connector(
    config: ConnectorConfig, mapping: SystemMapping, *, retry: RetryPolicy | None = None
) -> Connector:
    """The connector for one configured system, reading the fields its mapping names.

    `retry` overrides the default retry policy (tests use short waits).
    """
    policy = retry or RetryPolicy()
    if isinstance(config, SalesforceConfig):
        auth = config.auth
        credentials = SalesforceCredentials(
            login_url=auth.login_url,
            grant=auth.grant,
            client_id=auth.client_id or "",
            client_secret=_secret(auth.client_secret),
            username=auth.username,
            password=_secret(auth.password),
            private_key_file=auth.private_key_file,
            refresh_token=_secret(auth.refresh_token),
        )
        consent = _consent_objects(mapping)
        return SalesforceConnector(
            SalesforceSettings(
                credentials=credentials,
                fields={
                    name: pulled_fields(obj)
                    for name, obj in mapping.objects.items()
                    if obj.kind == "fields"
                },
                consent=consent,
                implied=_implied_records(mapping, consent),
                name=config.name,
                api_version=auth.api_version,
                ca_file=auth.ca_file,
                timeout=config.limits.timeout_seconds,
                requests_per_second=config.limits.requests_per_second,
                retry=policy,
                bulk_threshold=config.limits.bulk_threshold,
                lookback_seconds=config.limits.lookback_seconds,
            )
        )
    if isinstance(config, HubSpotConfig):
        contacts = mapping.objects.get(OBJECT_TYPE)
        properties = pulled_fields(contacts) if contacts else ["email"]
        subscriptions = {
            name: str(f.subscription)
            for name, f in (contacts.fields.items() if contacts else ())
            if f.kind == "subscription" and f.subscription is not None
        }
        unsubscribe_all = contacts.unsubscribe_all if contacts else None
        return HubSpotConnector(
            HubSpotSettings(
                access_token=_secret(config.auth.access_token) or "",
                properties=properties,
                subscriptions=subscriptions,
                name=config.name,
                base_url=config.auth.base_url,
                ca_file=config.auth.ca_file,
                timeout=config.limits.timeout_seconds,
                requests_per_second=config.limits.requests_per_second,
                retry=policy,
                unsubscribe_all_push=bool(unsubscribe_all and unsubscribe_all.push),
                lookback_seconds=config.limits.lookback_seconds,
            )
        )
    if isinstance(config, DeclarativeConfig):
        # Imported here: a deployment without declarative systems never loads the package.
        from consent_sync.connectors.declarative import DeclarativeConnector, DeclarativeSettings

        return DeclarativeConnector(
            DeclarativeSettings(
                config,
                {name: pulled_fields(obj) for name, obj in mapping.objects.items()},
                retry=policy,
            )
        )
    raise TypeError(f"no connector for {type(config).__name__}")


def _consent_objects(mapping: SystemMapping) -> dict[str, ConsentObject]:
    """The mapping's consent-records objects as the Salesforce connector reads them."""
    return {
        name: ConsentObject(
            name,
            tuple(
                ConsentEntry(
                    e.data_use_purpose,
                    e.contact_point_type,
                    e.field_name,
                    e.purpose,
                    e.direction != "pull",
                )
                for e in obj.consents
            ),
            create_individual=obj.create_individual,
        )
        for name, obj in mapping.objects.items()
        if obj.kind == "consent_records"
    }


def _implied_records(mapping: SystemMapping, consent: dict[str, ConsentObject]) -> ImpliedRecords:
    """Per Contact and Lead field that writes a denial of a purpose some pushed
    ContactPointTypeConsent entry records: the consent record that denial implies."""
    records = consent.get("ContactPointTypeConsent")
    if records is None:
        return {}
    entries: dict[str, ConsentEntry] = {}
    for entry in records.entries:
        if entry.pushes:
            entries.setdefault(entry.purpose, entry)  # the first entry of a purpose is created
    out: dict[str, dict[str, ImpliedRecord]] = {}
    for object_type in ("Contact", "Lead"):
        obj: ObjectMapping | None = mapping.objects.get(object_type)
        if obj is None or obj.kind != "fields":
            continue
        for purpose, entry in entries.items():
            rendered = render(obj, purpose, Status.DENIED)
            if rendered is not None:
                out.setdefault(object_type, {})[rendered[0]] = ImpliedRecord(rendered[1], entry)
    return out
