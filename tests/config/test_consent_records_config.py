"""Consent-records objects (Salesforce's ContactPointTypeConsent, ContactPointConsent) and the
refresh-token grant in configuration: what loads, and every mistake as `file:line: message`."""

from __future__ import annotations

import pytest

from consent_sync.config import ConfigError, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync.domain.mapping import pulled_fields, raw_for, status_for, targets
from consent_sync.domain.model import Status
from support.config_files import MakeConfig
from support.paths import REPO

HEAD = "system: crm\nobjects:\n"
CONTACT = (
    "  Contact:\n    match: {email: Email}\n    fields:\n"
    "      HasOptedOutOfEmail: {purpose: email_marketing, values: {true: denied, "
    "false: not_opted_out}}\n"
)
RECORDS = "  ContactPointTypeConsent:\n    kind: consent_records\n    consents:\n"
EMAIL = "      - {data_use_purpose: Email Marketing, purpose: email_marketing}\n"


def _errors(make_config: MakeConfig, files: dict[str, str | None]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(make_config(files), resolve_env=False)
    return [str(issue) for issue in raised.value.errors]


def _one_error(make_config: MakeConfig, files: dict[str, str | None]) -> tuple[str, int | None]:
    with pytest.raises(ConfigError) as raised:
        load_config(make_config(files), resolve_env=False)
    (issue,) = raised.value.errors
    return issue.message, issue.line


def test_the_shipped_mapping_reads_consent_records_for_two_purposes() -> None:
    """Each consents entry is a field read and written through the consent-record table."""
    config = load_config(REPO, resolve_env=False)
    records = config.mappings["salesforce"].objects["ContactPointTypeConsent"]
    assert records.kind == "consent_records"
    assert records.create_individual is False
    assert sorted(records.fields) == ["Email Marketing/Email", "SMS Marketing/Phone"]
    email = records.fields["Email Marketing/Email"]
    assert email.purpose == "email_marketing"
    assert status_for(email, "OptIn") is Status.GRANTED
    assert status_for(email, "Expired") is Status.DENIED
    assert status_for(email, "NotYetEffective") is Status.UNKNOWN
    assert raw_for(email, Status.DENIED) == "OptOut"
    assert raw_for(email, Status.GRANTED) == "OptIn"
    held = targets(config.mappings)[("salesforce", "ContactPointTypeConsent", "sms_marketing")]
    # "Not opted out" is never written to a consent record as anything.
    assert held == {Status.GRANTED: Status.GRANTED, Status.DENIED: Status.DENIED}
    per_address = config.mappings["salesforce"].objects["ContactPointConsent"]
    assert list(per_address.fields) == ["Email Marketing/Email"]


def test_a_consent_records_object_is_read_by_the_connector_not_as_fields(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """The factory hands consent objects to the connector as such, and the Contact field whose
    denial a consent record also records as the revocation it implies."""
    config = load_config(
        make_config({"mappings/crm.yaml": HEAD + CONTACT + RECORDS + EMAIL}), env=config_env
    )
    connector = build_connector(config.connectors["crm"], config.mappings["crm"])
    assert isinstance(connector, SalesforceConnector)
    try:
        settings = connector.settings
        assert set(settings.fields) == {"Contact"}
        (entry,) = settings.consent["ContactPointTypeConsent"].entries
        assert (entry.data_use_purpose, entry.contact_point_type) == ("Email Marketing", "Email")
        assert entry.field == "Email Marketing/Email" and entry.pushes
        implied = settings.implied["Contact"]["HasOptedOutOfEmail"]
        assert implied.denial is True and implied.entry == entry
    finally:
        connector.close()
    assert pulled_fields(config.mappings["crm"].objects["Contact"]) == [
        "Email",
        "HasOptedOutOfEmail",
    ]


@pytest.mark.parametrize(
    ("consents", "line", "fragment"),
    [
        (
            "      - {data_use_purpose: Email Marketing, purpose: ghost}\n",
            10,
            "purpose 'ghost' is not defined in mappings/purposes.yaml",
        ),
        (
            "      - {data_use_purpose: Email Marketing, contact_point_type: Pigeon, "
            "purpose: email_marketing}\n",
            10,
            "contact_point_type must be one of Email, Phone, MailingAddress, Social, Web, "
            "not 'Pigeon'",
        ),
        (
            EMAIL + "      - {data_use_purpose: email marketing, purpose: sms_marketing}\n",
            11,
            "consents repeats 'email marketing' for Email (first at line 10)",
        ),
        (
            "      - {data_use_purpose: '', purpose: email_marketing}\n",
            10,
            "data_use_purpose",
        ),
        (
            "      - {purpose: email_marketing}\n",
            10,
            "missing required key 'data_use_purpose'",
        ),
        (
            "      - {data_use_purpose: Email Marketing, purpose: email_marketing, colour: red}\n",
            10,
            "unknown key 'colour'",
        ),
    ],
    ids=["unknown purpose", "bad channel", "repeated pair", "empty name", "no name", "extra key"],
)
def test_a_bad_consents_entry_is_reported_at_its_line(
    make_config: MakeConfig, consents: str, line: int, fragment: str
) -> None:
    """Each entry is checked where it is written."""
    message, at = _one_error(
        make_config, {"mappings/crm.yaml": HEAD + CONTACT + RECORDS + consents}
    )
    assert fragment in message
    assert at == line


def test_a_consent_records_object_without_consents_is_an_error(make_config: MakeConfig) -> None:
    """An object that reads no purpose is a mistake, not a silent no-op."""
    text = HEAD + "  ContactPointTypeConsent:\n    kind: consent_records\n"
    message, line = _one_error(make_config, {"mappings/crm.yaml": text})
    assert message == "consents must not be empty"
    assert line == 3  # the object's: consents is not written


@pytest.mark.parametrize(
    ("extra", "line", "fragment"),
    [
        (
            "    match: {email: Email}\n",
            7,
            "a consent_records object has no match: its people are found through their Individual",
        ),
        ("    fields: {}\n", 7, "a consent_records object has no fields"),
    ],
)
def test_keys_a_consent_records_object_derives_are_refused_where_written(
    make_config: MakeConfig, extra: str, line: int, fragment: str
) -> None:
    """match and fields come from the consents; writing them by hand is an error at its line."""
    message, at = _one_error(make_config, {"mappings/crm.yaml": HEAD + RECORDS + EMAIL + extra})
    assert fragment in message
    assert at == line


def test_consents_on_an_ordinary_object_are_refused(make_config: MakeConfig) -> None:
    """consents and create_individual mean nothing to a fields object."""
    text = HEAD + CONTACT + "    create_individual: true\n"
    message, line = _one_error(make_config, {"mappings/crm.yaml": text})
    assert message == "create_individual is only used by kind: consent_records"
    assert line == 7


def test_consent_records_belong_to_salesforce_consent_objects(make_config: MakeConfig) -> None:
    """Another object name, or a HubSpot system, cannot hold Salesforce's consent records."""
    wrong_object = HEAD + "  Contact:\n    kind: consent_records\n    consents:\n" + EMAIL
    (message,) = _errors(make_config, {"mappings/crm.yaml": wrong_object})
    assert message.endswith(
        "crm.yaml:4: kind consent_records reads ContactPointTypeConsent or ContactPointConsent, "
        "not Contact"
    )
    hubspot = "system: hub\nobjects:\n" + RECORDS + EMAIL
    (message,) = _errors(make_config, {"mappings/hub.yaml": hubspot})
    assert "hub.yaml:4: consent_records reads Salesforce's consent data model, not a hubspot" in (
        message
    )


def test_per_address_consent_is_read_for_email_only_and_never_creates(
    make_config: MakeConfig,
) -> None:
    """A ContactPointConsent belongs to an email address: no other channel, no Individuals."""
    text = (
        HEAD + "  ContactPointConsent:\n    kind: consent_records\n    create_individual: true\n"
        "    consents:\n      - {data_use_purpose: SMS Marketing, contact_point_type: Phone, "
        "purpose: sms_marketing}\n"
    )
    errors = _errors(make_config, {"mappings/crm.yaml": text})
    assert any(
        e.endswith(
            ":5: create_individual is used by ContactPointTypeConsent only (a "
            "ContactPointConsent belongs to an email address, which consent-sync never "
            "creates)"
        )
        for e in errors
    ), errors
    assert any(":7: ContactPointConsent records are read per email address" in e for e in errors)
    assert len(errors) == 2


REFRESH = """\
    type: salesforce
    auth:
      login_url: ${SF_URL}
      grant: refresh_token
      client_id: ${SF_ID}
      refresh_token: ${SF_REFRESH}
    """


def test_the_refresh_token_grant_needs_a_client_id_and_a_token_reference(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """`grant: refresh_token` loads with its token from the environment (no secret needed)."""
    root = make_config({"connectors/crm.yaml": REFRESH})
    config = load_config(root, env={**config_env, "SF_REFRESH": "5Aep861.rotating"})
    auth = config.connectors["crm"].auth
    assert auth.grant == "refresh_token"  # type: ignore[union-attr]
    token = auth.refresh_token  # type: ignore[union-attr]
    assert token is not None and token.get_secret_value() == "5Aep861.rotating"
    missing = REFRESH.replace("      refresh_token: ${SF_REFRESH}\n", "")
    message, line = _one_error(make_config, {"connectors/crm.yaml": missing})
    assert message == "grant refresh_token needs auth settings: refresh_token"
    assert line == 4


def test_a_literal_refresh_token_is_refused(make_config: MakeConfig) -> None:
    """A refresh token is a secret: only ever a ${VAR} reference, never written in the file."""
    text = REFRESH.replace("${SF_REFRESH}", "5Aep861.literal")
    message, line = _one_error(make_config, {"connectors/crm.yaml": text})
    assert message == "refresh_token must be an ${ENV_VAR} reference, not a literal"
    assert line == 6
    assert "5Aep861" not in message


def test_each_consent_entry_counts_as_a_mapped_field() -> None:
    """`validate`'s field count includes the shipped mapping's three consents entries."""
    config = load_config(REPO, resolve_env=False)
    salesforce = config.mappings["salesforce"].objects
    assert {name: len(obj.fields) for name, obj in salesforce.items()} == {
        "Contact": 4,
        "Lead": 4,
        "ContactPointTypeConsent": 2,
        "ContactPointConsent": 1,
    }
