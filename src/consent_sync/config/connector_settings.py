"""`connectors/<system>.yaml`: how to reach one CRM, how often, and within which limits."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from consent_sync.config.declarative import Auth as DeclarativeAuth
from consent_sync.config.declarative import Requester, Stream
from consent_sync.config.declarative_checks import check_declarative
from consent_sync.config.errors import ConfigIssue
from consent_sync.config.loader import DEFAULT_REVOCATION_SLA_S
from consent_sync.config.validation import EnvText, EnvUrl, Secret, StrictModel
from consent_sync.config.yaml_source import YamlDocument

ConnectorType = Literal["salesforce", "hubspot", "declarative"]
SalesforceGrant = Literal["client_credentials", "jwt_bearer", "password", "refresh_token"]

#: Settings whose values are credentials: only ever `${ENV_VAR}` references.
SECRET_KEYS = frozenset({"client_secret", "password", "access_token", "refresh_token"})


def _check_cron(expression: str) -> str:
    # APScheduler is imported here, not at module level: commands that never load a connector's
    # settings (`ledger verify`, `subject show`) should not pay for the scheduler at start-up.
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise PydanticCustomError(
            "bad_cron", f"is not a 5-field cron expression ({exc}); e.g. '0 3 * * *'"
        ) from None
    return expression


def _api_version(value: object) -> object:
    # `api_version: 62.0` unquoted is a YAML float; read it as the version it plainly means.
    text = f"{value:.1f}" if isinstance(value, float) else value
    if isinstance(text, str) and not re.fullmatch(r"\d{2,3}\.0", text):
        raise PydanticCustomError("bad_api_version", "must be a REST API version like '62.0'")
    return text


def _blank_to_none(value: str | None) -> str | None:
    # An optional setting whose variable is set but empty counts as not set (e.g. no custom CA).
    return value or None


OptionalText = Annotated[EnvText | None, AfterValidator(_blank_to_none)]


class Schedule(StrictModel):
    """When to pull changes and when to run the drift sweep (cron, UTC)."""

    pull_interval: Annotated[int, Field(ge=1)] = 60
    sweep_cron: Annotated[str, AfterValidator(_check_cron)] = "0 3 * * *"


class Limits(StrictModel):
    """Client-side API budget, the incremental-pull lookback window, the revocation deadline."""

    requests_per_second: Annotated[float, Field(gt=0)] = 10.0
    max_daily_share_for_sweeps: Annotated[float, Field(ge=0, le=1)] = 0.8
    lookback_seconds: Annotated[int, Field(ge=0)] = 300
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    #: How soon a denial must be written to this system (`status`, metrics, alerts).
    revocation_sla_seconds: Annotated[float, Field(gt=0)] = DEFAULT_REVOCATION_SLA_S


class SalesforceLimits(Limits):
    """Salesforce's limits, and when a full read becomes a Bulk API 2.0 query job."""

    #: A full read (backfill, sweep, `--full`) of an object holding more records than this runs
    #: as a query job: a few calls in all instead of one per 2,000 records.
    bulk_threshold: Annotated[int, Field(ge=0)] = 10_000


class SalesforceAuth(StrictModel):
    """OAuth 2.0 against `{login_url}/services/oauth2/token`."""

    login_url: EnvUrl
    grant: SalesforceGrant = "client_credentials"
    client_id: OptionalText = None
    client_secret: Secret | None = None
    username: OptionalText = None
    password: Secret | None = None
    private_key_file: OptionalText = None
    #: grant refresh_token: a token the web-server flow issued. Used as given; a rotated one the
    #: token endpoint returns is kept in memory only (docs/design.md, "Connectors").
    refresh_token: Secret | None = None
    ca_file: OptionalText = None
    api_version: Annotated[str, BeforeValidator(_api_version)] = "62.0"


class HubSpotAuth(StrictModel):
    """A private-app token; `client_secret` verifies webhook signatures."""

    base_url: EnvUrl = "https://api.hubapi.com"
    access_token: Secret
    client_secret: Secret | None = None
    ca_file: OptionalText = None


class _Connector(StrictModel):
    name: str
    enabled: bool = True
    schedule: Schedule = Schedule()
    limits: Limits = Limits()


class SalesforceConnector(_Connector):
    """A Salesforce org."""

    type: Literal["salesforce"]
    auth: SalesforceAuth
    limits: SalesforceLimits = SalesforceLimits()


class HubSpotConnector(_Connector):
    """A HubSpot portal."""

    type: Literal["hubspot"]
    auth: HubSpotAuth


class DeclarativeConnector(_Connector):
    """A system described by a declarative spec: auth, requester, one stream per object type
    (docs/connectors.md). `vars` fill the `{name}` placeholders of its paths."""

    type: Literal["declarative"]
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], EnvText] = Field(
        default_factory=dict
    )
    auth: DeclarativeAuth | None = None
    requester: Requester
    streams: Annotated[dict[Annotated[str, Field(min_length=1)], Stream], Field(min_length=1)]


ConnectorConfig = SalesforceConnector | HubSpotConnector | DeclarativeConnector
CONNECTOR_MODELS: dict[
    str, type[SalesforceConnector] | type[HubSpotConnector] | type[DeclarativeConnector]
] = {
    "salesforce": SalesforceConnector,
    "hubspot": HubSpotConnector,
    "declarative": DeclarativeConnector,
}

_GRANT_NEEDS: dict[str, tuple[str, ...]] = {
    "client_credentials": ("client_id", "client_secret"),
    "jwt_bearer": ("client_id", "username", "private_key_file"),
    "password": ("client_id", "client_secret", "username", "password"),
    # The secret is optional: a connected app may not require it for the refresh-token flow.
    "refresh_token": ("client_id", "refresh_token"),
}


def check_connector(doc: YamlDocument, connector: ConnectorConfig) -> list[ConfigIssue]:
    """What the schema cannot say: the settings each Salesforce OAuth grant needs, and what
    spans the keys of a declarative spec."""
    if isinstance(connector, DeclarativeConnector):
        return check_declarative(doc, connector)
    if not isinstance(connector, SalesforceConnector):
        return []
    auth = connector.auth
    missing = [key for key in _GRANT_NEEDS[auth.grant] if getattr(auth, key) is None]
    if not missing:
        return []
    return [
        doc.issue(
            ("auth", "grant"), f"grant {auth.grant} needs auth settings: {', '.join(missing)}"
        )
    ]
