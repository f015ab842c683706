"""A small valid configuration directory that config tests bend one way or another.

`make_config` writes the baseline with per-file overrides; `config_env` resolves its references.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

BASELINE: Mapping[str, str] = {
    "mappings/purposes.yaml": """\
        purposes:
          email_marketing:
            title: Marketing email
            channel: email
          sms_marketing:
            title: Marketing SMS
            channel: sms
            require_evidence: true
        """,
    "connectors/crm.yaml": """\
        type: salesforce
        auth:
          login_url: ${SF_URL}
          client_id: ${SF_ID}
          client_secret: ${SF_SECRET}
        """,
    "connectors/hub.yaml": """\
        type: hubspot
        auth:
          access_token: ${HUB_TOKEN}
        """,
    "mappings/crm.yaml": """\
        system: crm
        objects:
          Contact:
            match: {email: Email}
            fields:
              HasOptedOutOfEmail:
                purpose: email_marketing
                values: {true: denied, false: not_opted_out}
        """,
    "mappings/hub.yaml": """\
        system: hub
        objects:
          contacts:
            match: {email: email}
            fields:
              marketing:
                subscription: "1001"
                purpose: email_marketing
                values: {SUBSCRIBED: granted, UNSUBSCRIBED: denied}
        """,
}

#: Values for every variable the baseline references; secrets look like nothing else in a message.
ENV: Mapping[str, str] = {
    "SF_URL": "https://login.example.test",
    "SF_ID": "client-id-1",
    "SF_SECRET": "sf-secret-Zq81",
    "HUB_TOKEN": "hub-token-Xw42",
}

#: The `make_config` fixture: overrides (relative path -> YAML text, or None) to a directory.
MakeConfig = Callable[..., Path]


def write_config(root: Path, overrides: Mapping[str, str | None]) -> Path:
    """Write the baseline with `overrides` applied (None deletes a file); return the directory."""
    files = {**BASELINE, **overrides}
    for relative, text in files.items():
        if text is None:
            continue
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for directory in ("connectors", "mappings"):
        (root / directory).mkdir(exist_ok=True)
    return root


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Build a config directory from the baseline and per-file overrides."""

    def make(overrides: Mapping[str, str | None] | None = None) -> Path:
        """The baseline under tmp_path/cfg with `overrides` applied."""
        return write_config(tmp_path / "cfg", overrides or {})

    return make


@pytest.fixture
def config_env() -> dict[str, str]:
    """An environment that sets every variable the baseline references."""
    return dict(ENV)


#: Values for every variable the repository's own connectors reference, pointing at no CRM: for
#: tests that load the shipped configuration and drive the engine with stand-in connectors.
OFFLINE_ENV: dict[str, str] = {
    "SALESFORCE_LOGIN_URL": "https://salesforce.invalid",
    "SALESFORCE_CLIENT_ID": "id",
    "SALESFORCE_CLIENT_SECRET": "secret",
    "SALESFORCE_CA_FILE": "",
    "HUBSPOT_BASE_URL": "https://hubspot.invalid",
    "HUBSPOT_ACCESS_TOKEN": "token",
    "HUBSPOT_CLIENT_SECRET": "secret",
    "HUBSPOT_CA_FILE": "",
    "MAILCHIMP_BASE_URL": "https://mailchimp.invalid/3.0",
    "MAILCHIMP_API_KEY": "key-us21",
    "MAILCHIMP_LIST_ID": "list",
    "MAILCHIMP_CA_FILE": "",
    "DYNAMICS_BASE_URL": "https://dynamics.invalid",
    "DYNAMICS_TOKEN_URL": "https://login.invalid/tenant/oauth2/v2.0/token",
    "DYNAMICS_CLIENT_ID": "id",
    "DYNAMICS_CLIENT_SECRET": "secret",
    "DYNAMICS_CA_FILE": "",
}
