"""The configuration directory: `connectors/*.yaml` and `mappings/*.yaml`, validated with
`file:line` errors (docs/design.md, "Configuration").

    config = load_config(Path("/etc/consent-sync"))      # raises ConfigError listing every error
    config.purposes["email_marketing"].policy
    config.connectors["salesforce"].auth.client_secret   # SecretStr, resolved from ${ENV}
    config.mappings["salesforce"].objects["Contact"].fields["HasOptedOutOfEmail"].values[True]
"""

from typing import TYPE_CHECKING, Any

from consent_sync.config.errors import ConfigError, ConfigIssue
from consent_sync.config.loader import (
    CONFIG_ENV,
    DeploymentConfig,
    default_config_dir,
    load_config,
    load_purposes,
    revocation_slas,
)
from consent_sync.domain.mapping import RawValue

if TYPE_CHECKING:
    from consent_sync.config.connector_settings import (
        ConnectorConfig,
        HubSpotAuth,
        HubSpotConnector,
        Limits,
        SalesforceAuth,
        SalesforceConnector,
        Schedule,
    )
    from consent_sync.config.mappings import (
        SUBSCRIPTION_STATES,
        FieldMapping,
        MatchKeys,
        ObjectMapping,
        SystemMapping,
    )

#: Names whose modules are imported on first use: the connector and mapping models cost most of
#: this package's import time, and the store commands (`ledger verify`) need only the purposes.
_LAZY = {
    **dict.fromkeys(
        (
            "ConnectorConfig",
            "HubSpotAuth",
            "HubSpotConnector",
            "Limits",
            "SalesforceAuth",
            "SalesforceConnector",
            "Schedule",
        ),
        "consent_sync.config.connector_settings",
    ),
    **dict.fromkeys(
        ("SUBSCRIPTION_STATES", "FieldMapping", "MatchKeys", "ObjectMapping", "SystemMapping"),
        "consent_sync.config.mappings",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_ENV",
    "SUBSCRIPTION_STATES",
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
    "SalesforceAuth",
    "SalesforceConnector",
    "Schedule",
    "SystemMapping",
    "default_config_dir",
    "load_config",
    "load_purposes",
    "revocation_slas",
]
