"""The configuration directory: `connectors/*.yaml` and `mappings/*.yaml`, validated with
`file:line` errors (docs/design.md, "Configuration").

    config = load_config(Path("/etc/consent-sync"))      # raises ConfigError listing every error
    config.purposes["email_marketing"].policy
    config.connectors["salesforce"].auth.client_secret   # SecretStr, resolved from ${ENV}
    config.mappings["salesforce"].objects["Contact"].fields["HasOptedOutOfEmail"].values[True]
"""

from consent_sync.config.connector_settings import (
    ConnectorConfig,
    HubSpotAuth,
    HubSpotConnector,
    Limits,
    SalesforceAuth,
    SalesforceConnector,
    Schedule,
)
from consent_sync.config.errors import ConfigError, ConfigIssue
from consent_sync.config.loader import (
    CONFIG_ENV,
    DeploymentConfig,
    default_config_dir,
    load_config,
    load_purposes,
)
from consent_sync.config.mappings import (
    SUBSCRIPTION_STATES,
    FieldMapping,
    MatchKeys,
    ObjectMapping,
    SystemMapping,
)
from consent_sync.domain.mapping import RawValue

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
]
