"""Malformed configurations: each is reported as `file:line: message`, never as a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consent_sync.config import ConfigError, load_config


@dataclass(frozen=True)
class Case:
    """One malformed configuration and the single error it must produce."""

    id: str
    files: dict[str, str | None]
    path: str
    line: int | None
    fragment: str
    env: dict[str, str] | None = field(default=None)  # set: load to run, resolving references


PURPOSE_HEAD = "purposes:\n  email_marketing:\n    title: Marketing email\n    channel: email\n"

CASES = [
    Case(
        "yaml syntax error",
        {"mappings/purposes.yaml": "purposes:\n  email_marketing:\n    title: 'unclosed\n"},
        "mappings/purposes.yaml",
        4,
        "invalid YAML: found unexpected end of stream",
    ),
    Case(
        "yaml bad indentation",
        {"connectors/hub.yaml": "type: hubspot\nauth:\n  access_token: ${HUB_TOKEN}\n bad: 1\n"},
        "connectors/hub.yaml",
        4,
        "invalid YAML",
    ),
    Case(
        "duplicate key",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    channel: sms\n"},
        "mappings/purposes.yaml",
        5,
        "duplicate key 'channel' (first at line 4)",
    ),
    Case(
        "duplicate purpose",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "  email_marketing:\n    title: Again\n"},
        "mappings/purposes.yaml",
        5,
        "duplicate key 'email_marketing' (first at line 2)",
    ),
    Case(
        "duplicate field",
        {
            "mappings/crm.yaml": (
                "system: crm\nobjects:\n  Contact:\n    match: {email: Email}\n    fields:\n"
                "      DoNotCall: {purpose: email_marketing, values: {true: denied}}\n"
                "      DoNotCall: {purpose: sms_marketing, values: {true: denied}}\n"
            )
        },
        "mappings/crm.yaml",
        7,
        "duplicate key 'DoNotCall' (first at line 6)",
    ),
    Case(
        "unknown top-level key",
        {"connectors/hub.yaml": "type: hubspot\nauth:\n  access_token: ${HUB_TOKEN}\nretries: 3\n"},
        "connectors/hub.yaml",
        4,
        "unknown key 'retries'",
    ),
    Case(
        "unknown purpose key",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    colour: red\n"},
        "mappings/purposes.yaml",
        5,
        "unknown key 'colour'",
    ),
    Case(
        "unknown policy",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    policy: first_come\n"},
        "mappings/purposes.yaml",
        5,
        "policy must be one of revocation_wins, last_writer_wins, source_priority, not "
        "'first_come'",
    ),
    Case(
        "unknown channel",
        {"mappings/purposes.yaml": "purposes:\n  e:\n    title: T\n    channel: pigeon\n"},
        "mappings/purposes.yaml",
        4,
        "channel must be one of email, sms, phone, fax, postal, none, not 'pigeon'",
    ),
    Case(
        "missing required key",
        {"mappings/purposes.yaml": "purposes:\n  email_marketing:\n    channel: email\n"},
        "mappings/purposes.yaml",
        2,
        "missing required key 'title'",
    ),
    Case(
        "source_priority policy without its list",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    policy: source_priority\n"},
        "mappings/purposes.yaml",
        5,
        "has policy source_priority but no source_priority list",
    ),
    Case(
        "source_priority list under another policy",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    source_priority: [crm]\n"},
        "mappings/purposes.yaml",
        5,
        "source_priority is only used with policy: source_priority",
    ),
    Case(
        "grant_sources naming a system without a connector",
        {
            "mappings/purposes.yaml": PURPOSE_HEAD
            + "    grant_sources:\n      - crm\n      - zendesk\n"
        },
        "mappings/purposes.yaml",
        7,
        "grant_sources names 'zendesk', which has no connector (connectors/zendesk.yaml)",
    ),
    Case(
        "literal secret",
        {
            "connectors/crm.yaml": "type: salesforce\nauth:\n  login_url: https://x.test\n"
            "  client_id: abc\n  client_secret: hunter2\n"
        },
        "connectors/crm.yaml",
        5,
        "client_secret must be an ${ENV_VAR} reference, not a literal",
    ),
    Case(
        "missing environment variable when loading to run",
        {},
        "connectors/crm.yaml",
        5,
        "client_secret refers to environment variable SF_SECRET, which is not set",
        env={"SF_URL": "https://x.test", "SF_ID": "id", "HUB_TOKEN": "t"},
    ),
    Case(
        "malformed reference",
        {"connectors/hub.yaml": "type: hubspot\nauth:\n  access_token: ${HUB-TOKEN}\n"},
        "connectors/hub.yaml",
        3,
        "access_token must be an ${ENV_VAR} reference, not a literal",
    ),
    Case(
        "malformed reference in a plain setting",
        {"connectors/hub.yaml": "type: hubspot\nauth:\n  base_url: ${URL\n  access_token: ${T}\n"},
        "connectors/hub.yaml",
        3,
        "base_url has a malformed reference",
    ),
    Case(
        "bad connector type",
        {"connectors/hub.yaml": "type: zendesk\nauth: {}\n"},
        "connectors/hub.yaml",
        1,
        "type must be one of salesforce, hubspot, declarative, not 'zendesk'",
    ),
    Case(
        "name key in a connector",
        {"connectors/hub.yaml": "name: other\ntype: hubspot\nauth: {access_token: '${T}'}\n"},
        "connectors/hub.yaml",
        1,
        "unknown key 'name' (the system name is the file's: hub)",
    ),
    Case(
        "negative interval",
        {
            "connectors/hub.yaml": "type: hubspot\nschedule:\n  pull_interval: -5\n"
            "auth: {access_token: '${T}'}\n"
        },
        "connectors/hub.yaml",
        3,
        "pull_interval must be at least 1",
    ),
    Case(
        "sweep share above one",
        {
            "connectors/hub.yaml": "type: hubspot\nauth: {access_token: '${T}'}\nlimits:\n"
            "  max_daily_share_for_sweeps: 1.5\n"
        },
        "connectors/hub.yaml",
        4,
        "max_daily_share_for_sweeps must be at most 1",
    ),
    Case(
        "bad cron",
        {
            "connectors/hub.yaml": "type: hubspot\nschedule: {sweep_cron: '0 3 * *'}\n"
            "auth: {access_token: '${T}'}\n"
        },
        "connectors/hub.yaml",
        2,
        "sweep_cron is not a 5-field cron expression",
    ),
    Case(
        "string where a boolean belongs",
        {"mappings/purposes.yaml": PURPOSE_HEAD + "    require_evidence: 'yes'\n"},
        "mappings/purposes.yaml",
        5,
        "require_evidence must be true or false, not a string",
    ),
    Case(
        "string where a number belongs",
        {
            "connectors/hub.yaml": "type: hubspot\nauth: {access_token: '${T}'}\nlimits:\n"
            "  timeout_seconds: '30'\n"
        },
        "connectors/hub.yaml",
        4,
        "timeout_seconds must be a number, not a string",
    ),
    Case(
        "list where a mapping belongs",
        {"mappings/purposes.yaml": "purposes:\n  - email_marketing\n"},
        "mappings/purposes.yaml",
        1,
        "purposes must be a mapping, not a list",
    ),
    Case(
        "scalar where a mapping belongs",
        {"connectors/hub.yaml": "type: hubspot\nauth: token\n"},
        "connectors/hub.yaml",
        2,
        "auth must be a mapping, not a string",
    ),
    Case(
        "bad purpose name",
        {
            "mappings/purposes.yaml": PURPOSE_HEAD
            + "  Email-Marketing:\n    title: T\n    channel: email\n"
        },
        "mappings/purposes.yaml",
        5,
        "key 'Email-Marketing' must start with a lower-case letter",
    ),
    Case(
        "grant without the settings it needs",
        {
            "connectors/crm.yaml": "type: salesforce\nauth:\n  login_url: ${SF_URL}\n"
            "  grant: password\n  client_id: ${SF_ID}\n  client_secret: ${SF_SECRET}\n"
        },
        "connectors/crm.yaml",
        4,
        "grant password needs auth settings: username, password",
    ),
    Case(
        "empty file",
        {"connectors/hub.yaml": "# nothing yet\n"},
        "connectors/hub.yaml",
        1,
        "file is empty",
    ),
    Case(
        "purposes.yaml missing",
        {"mappings/purposes.yaml": None},
        "mappings/purposes.yaml",
        None,
        "file not found",
    ),
]

FIELDS_HEAD = "system: crm\nobjects:\n  Contact:\n    match: {email: Email}\n    fields:\n"


def crm_field(body: str) -> dict[str, str | None]:
    """A crm mapping whose one field (line 6 onwards) is `body`."""
    return {"mappings/crm.yaml": FIELDS_HEAD + body}


CASES += [
    Case(
        "unknown purpose in a mapping",
        crm_field(
            "      DoNotCall:\n        purpose: phone_calls\n        values: {true: denied}\n"
        ),
        "mappings/crm.yaml",
        7,
        "purpose 'phone_calls' is not defined in mappings/purposes.yaml",
    ),
    Case(
        "bad status in a value table",
        crm_field(
            "      DoNotCall:\n        purpose: email_marketing\n"
            "        values:\n          true: maybe\n          false: granted\n"
        ),
        "mappings/crm.yaml",
        9,
        "values[true] must be one of granted, not_opted_out, denied, unknown",
    ),
    Case(
        "unreadable raw value type",
        crm_field(
            "      Since__c:\n        purpose: email_marketing\n        direction: pull\n"
            "        values:\n          2024-01-01: denied\n"
        ),
        "mappings/crm.yaml",
        10,
        "must be true/false, a number, a string or null",
    ),
    Case(
        "two raw values to one status without push_value",
        crm_field(
            "      SMS__c:\n        purpose: sms_marketing\n        values:\n"
            "          Opted In: granted\n          Double Opt-In: granted\n"
            "          Opted Out: denied\n"
        ),
        "mappings/crm.yaml",
        8,
        "values maps 'Opted In' and 'Double Opt-In' to granted; add push_value",
    ),
    Case(
        "push_value that the table does not map to its status",
        crm_field(
            "      SMS__c:\n        purpose: sms_marketing\n"
            "        values: {a: granted, b: granted, c: denied}\n"
            "        push_value:\n          granted: c\n"
        ),
        "mappings/crm.yaml",
        10,
        "push_value for granted must be a raw value that values maps to granted ('a', 'b')",
    ),
    Case(
        "pushed field that cannot write a grant",
        crm_field("      DoNotCall: {purpose: email_marketing, values: {true: denied}}\n"),
        "mappings/crm.yaml",
        6,
        "values has no raw value for granted or not_opted_out, so the field cannot be pushed",
    ),
    Case(
        "unsubscribe_all on a Salesforce object",
        {
            "mappings/crm.yaml": "system: crm\nobjects:\n  Contact:\n    match: {email: Email}\n"
            "    unsubscribe_all: {push: true}\n    fields:\n"
            "      DoNotCall: {purpose: email_marketing, values: {true: denied}}\n"
        },
        "mappings/crm.yaml",
        5,
        "unsubscribe_all is a HubSpot feature, not salesforce's",
    ),
    Case(
        "push_value writing an opt-in for not opted out",
        crm_field(
            "      Consent__c:\n        purpose: email_marketing\n"
            "        values: {true: granted, false: denied, null: not_opted_out}\n"
            "        push_value:\n          not_opted_out: true\n"
        ),
        "mappings/crm.yaml",
        10,
        "push_value writes true, which values reads as granted, for not_opted_out",
    ),
    Case(
        "two fields pushing one purpose",
        crm_field(
            "      A__c: {purpose: email_marketing, values: {true: denied, false: granted}}\n"
            "      B__c:\n        purpose: email_marketing\n"
            "        values: {true: granted, false: denied}\n"
        ),
        "mappings/crm.yaml",
        8,
        "fields 'A__c' and 'B__c' of Contact both push purpose email_marketing",
    ),
    Case(
        "bad direction",
        crm_field(
            "      DoNotCall:\n        purpose: email_marketing\n        direction: sideways\n"
            "        values: {true: denied, false: granted}\n"
        ),
        "mappings/crm.yaml",
        8,
        "direction must be one of pull, push, both, not 'sideways'",
    ),
    Case(
        "subscription on a Salesforce object",
        crm_field(
            "      Marketing:\n        subscription: Marketing Information\n"
            "        purpose: email_marketing\n"
            "        values: {SUBSCRIBED: granted, UNSUBSCRIBED: denied}\n"
        ),
        "mappings/crm.yaml",
        6,
        "subscriptions are a HubSpot feature; a salesforce field is a property",
    ),
    Case(
        "subscription values that are not v4 states",
        {
            "mappings/hub.yaml": "system: hub\nobjects:\n  contacts:\n    match: {email: email}\n"
            "    fields:\n      m:\n        subscription: 1001\n        purpose: email_marketing\n"
            "        values:\n          yes: granted\n          UNSUBSCRIBED: denied\n"
        },
        "mappings/hub.yaml",
        10,
        "subscription values must be NOT_SPECIFIED, SUBSCRIBED, UNSUBSCRIBED, not true",
    ),
    Case(
        "mapping for a system without a connector",
        {
            "mappings/zendesk.yaml": "system: zendesk\n"
            + FIELDS_HEAD.split("\n", 1)[1]
            + "      X: {purpose: email_marketing, values: {true: denied, false: granted}}\n"
        },
        "mappings/zendesk.yaml",
        1,
        "mapping for system 'zendesk', which has no connector (connectors/zendesk.yaml)",
    ),
    Case(
        "system key that disagrees with the file name",
        {
            "mappings/crm.yaml": "system: hub\n"
            + FIELDS_HEAD.split("\n", 1)[1]
            + "      X: {purpose: email_marketing, values: {true: denied, false: granted}}\n"
        },
        "mappings/crm.yaml",
        1,
        "system 'hub' does not match the file name (crm.yaml)",
    ),
]

CASES += [
    Case(
        "connector type a list",
        {"connectors/hub.yaml": "type: [hubspot]\nauth:\n  access_token: ${HUB_TOKEN}\n"},
        "connectors/hub.yaml",
        1,
        "type must be one of salesforce, hubspot, declarative, not ['hubspot']",
    ),
    Case(
        "two YAML documents in one file",
        {"connectors/hub.yaml": "type: hubspot\n---\ntype: salesforce\n"},
        "connectors/hub.yaml",
        2,
        "invalid YAML: expected a single document in the stream, but found another document",
    ),
    Case(
        "bad api_version",
        {
            "connectors/crm.yaml": "type: salesforce\nauth:\n  login_url: ${SF_URL}\n"
            "  client_id: ${SF_ID}\n  client_secret: ${SF_SECRET}\n  api_version: v62\n"
        },
        "connectors/crm.yaml",
        6,
        "api_version must be a REST API version like '62.0'",
    ),
    Case(
        "subscription kind without a subscription",
        {
            "mappings/hub.yaml": "system: hub\nobjects:\n  contacts:\n    match: {email: email}\n"
            "    fields:\n      m:\n        kind: subscription\n        purpose: email_marketing\n"
            "        values: {SUBSCRIBED: granted, UNSUBSCRIBED: denied}\n"
        },
        "mappings/hub.yaml",
        7,
        "kind subscription needs subscription: <id or name>",
    ),
    Case(
        "push_value on a pull-only field",
        crm_field(
            "      DoNotCall:\n        purpose: email_marketing\n        direction: pull\n"
            "        values: {true: denied, false: granted}\n        push_value: {denied: true}\n"
        ),
        "mappings/crm.yaml",
        10,
        "push_value is only used when direction is push or both",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_config_is_reported_at_its_line(make_config: object, case: Case) -> None:
    """Each malformed configuration yields exactly the expected `file:line: message`."""
    assert callable(make_config)
    root: Path = make_config(case.files)
    with pytest.raises(ConfigError) as caught:
        load_config(root, resolve_env=case.env is not None, env=case.env or {})
    expected = root / case.path
    matching = [
        issue
        for issue in caught.value.errors
        if issue.path == expected and issue.line == case.line and case.fragment in issue.message
    ]
    assert matching, f"expected {expected}:{case.line}: …{case.fragment}…, got:\n{caught.value}"
    where = f"{expected}:{case.line}: " if case.line is not None else f"{expected}: "
    assert f"{where}{matching[0].message}" in str(caught.value).splitlines()
