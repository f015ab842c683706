"""`validate --live` for a declarative system: each mapped field checked against what the
system's describe endpoint says (exists, writable when pushed, a checkbox for a true/false
table)."""

from __future__ import annotations

from consent_sync.config.live_check import live_issues
from support.declarative_dataverse import (
    MAPPING,
    Environment,
    _no_leftover_dataverse_faults,
    dataverse,
)

__all__ = ["_no_leftover_dataverse_faults", "dataverse"]


def test_the_documented_spec_and_its_mapping_pass_the_live_check(dataverse: Environment) -> None:
    """The Dataverse example spec with a donotbulkemail mapping has nothing to report."""
    config = dataverse.config()
    assert live_issues(config, {"dynamics": dataverse.connector()}) == []


def test_fields_the_system_lacks_or_cannot_take_are_reported_at_their_line(
    dataverse: Environment,
) -> None:
    """A field Dataverse does not have, a pushed read-only one and a picklist-style table on a
    Boolean are each one issue at the mapping's line."""
    mapping = MAPPING + (
        "      donotfaxx:\n"
        "        purpose: sms_marketing\n"
        "        direction: pull\n"
        "        values: {true: denied, false: not_opted_out}\n"
        "      createdon:\n"
        "        purpose: sms_marketing\n"
        "        values: {'2020-01-01': denied, '2021-01-01': not_opted_out}\n"
        "      donotphone:\n"
        "        purpose: sms_marketing\n"
        "        direction: pull\n"
        "        values: {'yes': denied, 'no': not_opted_out}\n"
    )
    config = dataverse.config(mapping=mapping)
    connector = dataverse.connector(mapping=mapping)
    issues = [str(i).split("mappings/", 1)[1] for i in live_issues(config, {"dynamics": connector})]
    assert issues == [
        "dynamics.yaml:9: contacts.donotfaxx does not exist in dynamics",
        "dynamics.yaml:13: contacts.createdon is read-only in the CRM but its direction is "
        "both; use direction: pull",
        "dynamics.yaml:16: contacts.donotphone is a checkbox: its values must be true/false, "
        "not 'yes', 'no'",
    ]
