"""`load_config(..., systems=...)`: run some of the configured systems without the others'
secrets (the demo plays on a subset of the shipped configuration)."""

from __future__ import annotations

import pytest

from consent_sync.config import ConfigError, load_config
from support.config_files import OFFLINE_ENV
from support.paths import REPO

TWO = ("salesforce", "hubspot")


def _env_of(*systems: str) -> dict[str, str]:
    prefixes = tuple(f"{s.upper()}_" for s in systems)
    return {k: v for k, v in OFFLINE_ENV.items() if k.startswith(prefixes)}


def test_the_other_systems_are_loaded_disabled_and_need_no_secrets() -> None:
    """With only Salesforce's and HubSpot's variables set, naming those two loads the shipped
    config; Mailchimp and Dynamics stay in it, disabled, their references unresolved."""
    config = load_config(REPO, env=_env_of(*TWO), systems=TWO)
    enabled = {name for name, c in config.connectors.items() if c.enabled}
    assert enabled == set(TWO)
    assert {"mailchimp", "dynamics"} <= set(config.connectors)
    assert config.connectors["salesforce"].auth.client_secret.get_secret_value() == "secret"


def test_without_systems_every_enabled_connector_needs_its_secrets() -> None:
    """The default is unchanged: an enabled connector's unset variable is an error."""
    with pytest.raises(ConfigError, match="MAILCHIMP_API_KEY"):
        load_config(REPO, env=_env_of(*TWO))
