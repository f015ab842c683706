"""Build a connector from its deployment configuration and its mapping."""

from __future__ import annotations

from consent_sync.config import (
    ConnectorConfig,
    SystemMapping,
)
from consent_sync.config import (
    HubSpotConnector as HubSpotConfig,
)
from consent_sync.config import (
    SalesforceConnector as SalesforceConfig,
)
from consent_sync.connectors.hubspot.connector import OBJECT_TYPE, HubSpotConnector, HubSpotSettings
from consent_sync.connectors.protocol import Connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.connectors.salesforce.auth import SalesforceCredentials
from consent_sync.connectors.salesforce.connector import SalesforceConnector, SalesforceSettings
from consent_sync.domain.mapping import pulled_fields


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
        )
        return SalesforceConnector(
            SalesforceSettings(
                credentials=credentials,
                fields={name: pulled_fields(obj) for name, obj in mapping.objects.items()},
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
    raise TypeError(f"no connector for {type(config).__name__}")
