"""Loading a valid configuration: what callers get, how references resolve, what never leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from consent_sync.config import (
    CONFIG_ENV,
    ConfigError,
    HubSpotConnector,
    SalesforceConnector,
    default_config_dir,
    load_config,
    load_purposes,
)
from consent_sync.domain.mapping import held, raw_for, status_for
from consent_sync.domain.model import Policy, Status
from consent_sync_sandbox.runner import available_emulators
from support.config_files import MakeConfig
from support.paths import REPO

SANDBOX_ENV = {
    "SALESFORCE_LOGIN_URL": "https://127.0.0.1:8701",
    "SALESFORCE_CLIENT_ID": "sandbox-client",
    "SALESFORCE_CLIENT_SECRET": "sandbox-secret-Pp19",
    "SALESFORCE_USERNAME": "admin@sandbox.test",
    "SALESFORCE_PASSWORD": "sandbox-password-Qq20",
    "SALESFORCE_CA_FILE": "",  # tests that resolve it point it at a real PEM file
    "HUBSPOT_BASE_URL": "https://127.0.0.1:8702",
    "HUBSPOT_ACCESS_TOKEN": "pat-sandbox-Rr21",
    "HUBSPOT_CLIENT_SECRET": "hubspot-secret-Ss22",
    "HUBSPOT_CA_FILE": "",
    "MAILCHIMP_BASE_URL": "https://127.0.0.1:8703/3.0",
    "MAILCHIMP_API_KEY": "0123456789abcdef0123456789abcdef-us21",
    "MAILCHIMP_LIST_ID": "a1b2c3d4e5",
    "MAILCHIMP_CA_FILE": "",
    "DYNAMICS_BASE_URL": "https://127.0.0.1:8704",
    "DYNAMICS_TOKEN_URL": "https://127.0.0.1:8704/tenant/oauth2/v2.0/token",
    "DYNAMICS_CLIENT_ID": "dynamics-client",
    "DYNAMICS_CLIENT_SECRET": "dynamics-secret-Tt23",
    "DYNAMICS_CA_FILE": "",
}


def test_repository_config_validates_offline() -> None:
    """The repository's own connectors/ and mappings/ pass validation without any variable set."""
    config = load_config(REPO, resolve_env=False, env={})
    systems = {"salesforce", "hubspot", "mailchimp", "dynamics"}
    assert set(config.connectors) == systems
    assert set(config.mappings) == systems
    assert {"email_marketing", "sms_marketing", "phone_calls", "fax"} <= set(config.purposes)
    assert config.purposes["sms_marketing"].require_evidence
    assert all("is not set" in warning.message for warning in config.warnings)


def test_repository_config_resolves_the_sandbox_environment(ca_bundle: Path) -> None:
    """With the variables the sandbox writes, every reference in the repository config resolves."""
    env = {**SANDBOX_ENV, "SALESFORCE_CA_FILE": str(ca_bundle), "HUBSPOT_CA_FILE": str(ca_bundle)}
    config = load_config(REPO, env=env)
    salesforce = config.connectors["salesforce"]
    hubspot = config.connectors["hubspot"]
    assert isinstance(salesforce, SalesforceConnector)
    assert isinstance(hubspot, HubSpotConnector)
    assert salesforce.auth.login_url == "https://127.0.0.1:8701"
    assert salesforce.auth.client_secret is not None
    assert salesforce.auth.client_secret.get_secret_value() == "sandbox-secret-Pp19"
    assert hubspot.auth.access_token.get_secret_value() == "pat-sandbox-Rr21"
    assert hubspot.auth.ca_file == str(ca_bundle)
    assert config.warnings == ()


def test_repository_config_needs_exactly_what_the_sandbox_writes(ca_bundle: Path) -> None:
    """Every variable the shipped connectors reference is one the sandbox emulators provide."""
    emulators = available_emulators()
    assert {"salesforce", "hubspot"} <= set(emulators)
    env: dict[str, str] = {}
    for build in emulators.values():
        env.update(build(0, 0, 0.8).client_env("https://127.0.0.1:8700", ca_bundle))
    config = load_config(REPO, env=env)
    assert config.warnings == ()
    assert config.connectors["salesforce"].enabled and config.connectors["hubspot"].enabled


def test_repository_mappings_read_and_write_the_documented_values() -> None:
    """The shipped mappings read inverted checkboxes, picklists and subscriptions as documented."""
    config = load_config(REPO, resolve_env=False, env={})
    contact = config.mappings["salesforce"].objects["Contact"]
    opted_out = contact.fields["HasOptedOutOfEmail"]
    assert status_for(opted_out, True) is Status.DENIED
    assert raw_for(opted_out, Status.GRANTED) is False
    assert status_for(contact.fields["SMS_Consent__c"], None) is Status.UNKNOWN
    contacts = config.mappings["hubspot"].objects["contacts"]
    marketing = contacts.fields["marketing_email"]
    assert (marketing.kind, marketing.subscription) == ("subscription", "Marketing Information")
    assert raw_for(contacts.fields["sms_consent"], Status.DENIED) == "opted_out"
    assert status_for(contacts.fields["phone_consent"], False) is Status.DENIED


def test_value_tables_keep_yaml_types(make_config: MakeConfig) -> None:
    """`true` and `"true"` are different raw values; `1` never matches a checkbox `true`."""
    root = make_config(
        {
            "mappings/crm.yaml": """\
                system: crm
                objects:
                  Contact:
                    match: {email: Email}
                    fields:
                      Flag__c:
                        purpose: email_marketing
                        values: {true: denied, "true": granted, null: unknown, false: granted}
                        push_value: {granted: false}
                """
        }
    )
    field = (
        load_config(root, resolve_env=False).mappings["crm"].objects["Contact"].fields["Flag__c"]
    )
    assert status_for(field, True) is Status.DENIED
    assert status_for(field, "true") is Status.GRANTED
    assert status_for(field, None) is Status.UNKNOWN
    assert status_for(field, 1) is None
    assert raw_for(field, Status.GRANTED) is False


def test_aliases_and_merge_keys_are_followed(make_config: MakeConfig) -> None:
    """A value table shared through a YAML anchor applies wherever it is aliased."""
    root = make_config(
        {
            "mappings/crm.yaml": """\
                system: crm
                objects:
                  Contact:
                    match: {email: Email}
                    fields:
                      HasOptedOutOfEmail:
                        purpose: email_marketing
                        values: &inverted {true: denied, false: granted}
                  Lead:
                    match: {email: Email}
                    fields:
                      HasOptedOutOfEmail:
                        <<: {purpose: sms_marketing}
                        values: *inverted
                """
        }
    )
    lead = load_config(root, resolve_env=False).mappings["crm"].objects["Lead"]
    assert lead.fields["HasOptedOutOfEmail"].purpose == "sms_marketing"
    assert status_for(lead.fields["HasOptedOutOfEmail"], True) is Status.DENIED


def test_purposes_become_domain_purposes(make_config: MakeConfig) -> None:
    """`load_purposes` builds model.Purpose with policy, grant sources and priority list."""
    root = make_config(
        {
            "mappings/purposes.yaml": """\
                purposes:
                  email_marketing:
                    title: Marketing email
                    channel: email
                    policy: source_priority
                    source_priority: [hub, crm]
                    grant_sources: [hub]
                """
        }
    )
    purpose = load_purposes(root)["email_marketing"]
    assert purpose.policy is Policy.SOURCE_PRIORITY
    assert purpose.source_priority == ("hub", "crm")
    assert purpose.grant_sources == frozenset({"hub"})
    assert purpose.may_grant("hub") and not purpose.may_grant("crm")


def test_defaults_fill_what_a_connector_leaves_out(make_config: MakeConfig) -> None:
    """Schedule and limits default to the documented values (docs/design.md, "Configuration"):
    80 % sweep share, 5 minutes lookback."""
    connector = load_config(make_config(), resolve_env=False).connectors["hub"]
    assert connector.enabled
    assert connector.limits.max_daily_share_for_sweeps == 0.8
    assert connector.limits.lookback_seconds == 300
    assert connector.schedule.pull_interval == 60


def test_empty_variable_for_an_optional_setting_means_unset(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """`ca_file: ${CA}` with CA set but empty falls back to the system CAs (None)."""
    root = make_config(
        {
            "connectors/hub.yaml": "type: hubspot\nauth:\n  access_token: ${HUB_TOKEN}\n"
            "  ca_file: ${CA}\n"
        }
    )
    connector = load_config(root, env={**config_env, "CA": ""}).connectors["hub"]
    assert isinstance(connector, HubSpotConnector)
    assert connector.auth.ca_file is None


def test_unquoted_api_version_reads_as_the_version(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """`api_version: 61.0` (a YAML float) means version "61.0"."""
    crm = "type: salesforce\nauth:\n  login_url: ${SF_URL}\n  client_id: ${SF_ID}\n"
    crm += "  client_secret: ${SF_SECRET}\n  api_version: 61.0\n"
    connector = load_config(make_config({"connectors/crm.yaml": crm}), env=config_env).connectors[
        "crm"
    ]
    assert isinstance(connector, SalesforceConnector)
    assert connector.auth.api_version == "61.0"


def test_offline_validation_warns_about_unset_variables(make_config: MakeConfig) -> None:
    """Without resolution an unset variable is a warning naming it, not an error."""
    config = load_config(make_config(), resolve_env=False, env={"SF_URL": "https://x.test"})
    messages = [str(warning) for warning in config.warnings]
    assert any("crm.yaml:5: environment variable SF_SECRET is not set" in m for m in messages)
    assert not any("SF_URL" in m for m in messages)


def test_disabled_connector_loads_without_its_variables(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """A connector with `enabled: false` does not need its variables set to run the others."""
    root = make_config(
        {"connectors/hub.yaml": "type: hubspot\nenabled: false\nauth:\n  access_token: ${NOPE}\n"}
    )
    config = load_config(root, env=config_env)
    assert not config.connectors["hub"].enabled
    assert any("NOPE is not set" in warning.message for warning in config.warnings)


def test_connector_without_mapping_is_a_warning(make_config: MakeConfig) -> None:
    """A connected system nothing is mapped for loads, with a warning that nothing will sync."""
    config = load_config(make_config({"mappings/hub.yaml": None}), resolve_env=False)
    assert any("has no mapping" in warning.message for warning in config.warnings)


def test_every_error_is_reported_at_once(make_config: MakeConfig) -> None:
    """Errors in several files come back together, ordered by file and line, one per line."""
    root = make_config(
        {
            "mappings/purposes.yaml": "purposes:\n  email_marketing:\n    title: T\n"
            "    channel: email\n    policy: nope\n  sms_marketing:\n    title: S\n"
            "    channel: carrier_pigeon\n",
            "connectors/hub.yaml": "type: hubspot\nauth:\n  access_token: literal\n",
            "mappings/crm.yaml": "system: crm\nobjects:\n  Contact:\n    match: {email: Email}\n"
            "    fields:\n      X: {purpose: ghost, values: {true: denied, false: granted}}\n",
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root, resolve_env=False)
    located = [
        (issue.path.relative_to(root).as_posix(), issue.line) for issue in caught.value.errors
    ]
    assert located == [
        ("connectors/hub.yaml", 3),
        ("mappings/crm.yaml", 6),
        ("mappings/purposes.yaml", 5),
        ("mappings/purposes.yaml", 8),
    ]
    assert len(str(caught.value).splitlines()) == 4


def test_secrets_never_appear_in_messages_or_repr(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """Resolved secrets stay SecretStr; literal secrets and YAML errors never echo the value."""
    config = load_config(make_config(), env=config_env)
    crm = config.connectors["crm"]
    assert isinstance(crm.auth.client_secret, SecretStr)
    for text in (repr(config), str(config), repr(crm), crm.model_dump_json()):
        assert "sf-secret-Zq81" not in text
        assert "hub-token-Xw42" not in text
    broken = make_config(
        {
            "connectors/crm.yaml": "type: salesforce\nauth:\n  login_url: ${SF_URL}\n"
            "  client_id: ${SF_ID}\n  client_secret: sf-secret-Zq81\n  password: 7\n",
            "connectors/hub.yaml": "type: hubspot\nauth:\n"
            "  access_token: hub-token-Xw42 {\n  x: [\n",
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_config(broken, env=config_env)
    report = str(caught.value) + repr(caught.value.errors)
    assert "client_secret must be an ${ENV_VAR} reference" in report
    assert "sf-secret-Zq81" not in report
    assert "hub-token-Xw42" not in report


def test_config_dir_comes_from_option_then_environment_then_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--config` wins over CONSENT_SYNC_CONFIG, which wins over the current directory."""
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    assert default_config_dir(Path("/etc/cs")) == Path("/etc/cs")
    assert default_config_dir() == tmp_path
    monkeypatch.delenv(CONFIG_ENV)
    assert default_config_dir() == Path(".")


def test_missing_directory_is_one_error(tmp_path: Path) -> None:
    """A config directory that does not exist is one clear error, not a traceback."""
    with pytest.raises(ConfigError, match="config directory not found"):
        load_config(tmp_path / "nowhere")


def test_unticked_opt_out_read_as_grant_is_a_warning_at_its_line(make_config: MakeConfig) -> None:
    """A value table reading an unticked opt-out box (or an empty field) as granted warns."""
    mapping = (
        "system: crm\nobjects:\n  Contact:\n    match: {email: Email}\n    fields:\n"
        "      HasOptedOutOfEmail:\n        purpose: email_marketing\n"
        "        values:\n          true: denied\n          false: granted\n"
        "      SMS__c:\n        purpose: sms_marketing\n        direction: pull\n"
        "        values:\n          Opted In: granted\n          null: granted\n"
        "          Opted Out: denied\n"
    )
    config = load_config(make_config({"mappings/crm.yaml": mapping}), resolve_env=False)
    messages = [str(w) for w in config.warnings if "not an opt-in" in w.message]
    assert len(messages) == 2
    assert (
        "crm.yaml:10: values reads an unticked opt-out checkbox (false) as granted" in (messages[0])
    )
    assert "crm.yaml:16: values reads an empty field (null) as granted" in messages[1]


def test_opt_out_box_read_as_not_opted_out_loads_without_warning(make_config: MakeConfig) -> None:
    """The shipped spelling (false: not_opted_out) loads with no warning and pushes grants."""
    config = load_config(make_config(), resolve_env=False)
    assert not [w for w in config.warnings if "opt-in" in w.message]
    field = config.mappings["crm"].objects["Contact"].fields["HasOptedOutOfEmail"]
    assert raw_for(field, Status.GRANTED) is False  # a grant unticks the box
    assert held(field, Status.GRANTED) is Status.NOT_OPTED_OUT
    assert held(field, Status.DENIED) is Status.DENIED
