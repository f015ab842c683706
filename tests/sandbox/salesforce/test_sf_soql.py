"""The SOQL subset: tokenizer, parser and the checks the REST API answers with errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from simple_salesforce import format_soql

from consent_sync_sandbox.salesforce import soql
from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.query import compile_query


def test_string_escapes_are_decoded() -> None:
    """SOQL escapes \\' \\" \\\\ \\n \\t in string literals decode to the characters they name."""
    (token, _) = soql.tokenize(r"'o\'brien \"x\" back\\slash\nline\ttab'")
    assert token.text == 'o\'brien "x" back\\slash\nline\ttab'


def test_format_soql_round_trips_hostile_values() -> None:
    """Whatever format_soql quotes, the tokenizer reads back as the same value."""
    for value in ["o'brien@x.com", "back\\slash@x.com", 'q"uote@x.com', "zoë@exämple.de", "a\nb"]:
        (token, _) = soql.tokenize(format_soql("{}", value))
        assert token.kind == "string"
        assert token.text == value


def test_like_escapes_keep_wildcards_literal() -> None:
    """In LIKE, \\% and \\_ match a literal percent or underscore; bare ones are wildcards."""
    (token, _) = soql.tokenize("'" + format_soql("{:like}%", "50%_off") + "'")
    assert token.like_pattern == "50\\%\\_off%"


def test_unknown_escape_is_malformed() -> None:
    """An escape SOQL does not define is a syntax error, not a silent character."""
    with pytest.raises(soql.SoqlSyntaxError):
        soql.tokenize(r"'a\qb'")


def test_datetime_literals_with_zone_offsets() -> None:
    """Datetime literals take Z, +hh:mm and -hh:mm offsets and optional milliseconds."""
    z, plus, minus = (
        soql.tokenize(text)[0].value
        for text in (
            "2024-01-01T00:00:00Z",
            "2024-01-01T02:00:00.250+02:00",
            "2023-12-31T19:00:00-05:00",
        )
    )
    assert z == datetime(2024, 1, 1, tzinfo=UTC)
    assert plus == datetime(2024, 1, 1, 2, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    assert minus == z


def test_parses_the_incremental_pull_query() -> None:
    """The connector's pull query parses into fields, filter, order and limit."""
    query = soql.parse(
        "SELECT Id, Email, SystemModstamp FROM Contact "
        "WHERE SystemModstamp >= 2024-01-01T00:00:00Z ORDER BY SystemModstamp, Id DESC NULLS LAST "
        "LIMIT 10"
    )
    assert [f.name for f in query.fields] == ["Id", "Email", "SystemModstamp"]
    assert query.sobject == "Contact"
    assert isinstance(query.where, soql.Comparison)
    assert query.where.op == ">="
    assert [(o.field.name, o.descending, o.nulls_last) for o in query.order_by] == [
        ("SystemModstamp", False, False),
        ("Id", True, True),
    ]
    assert query.limit == 10


def test_boolean_logic_nests_with_parentheses_and_not() -> None:
    """AND/OR/NOT with parentheses build the tree the text says."""
    query = soql.parse(
        "select id from contact where (DoNotCall = true or NOT HasOptedOutOfEmail = false) "
        "and Email != null and SMS_Consent__c in ('Opted In', null)"
    )
    assert isinstance(query.where, soql.BoolOp)
    assert query.where.op == "AND"
    first, _, last = query.where.operands
    assert isinstance(first, soql.BoolOp) and first.op == "OR"
    assert isinstance(first.operands[1], soql.Not)
    assert isinstance(last, soql.Comparison) and last.op == "IN" and len(last.values) == 2


def test_mixing_and_or_without_parentheses_is_malformed() -> None:
    """SOQL rejects `a AND b OR c`: the precedence must be spelled with parentheses."""
    with pytest.raises(soql.SoqlSyntaxError):
        soql.parse("SELECT Id FROM Contact WHERE DoNotCall = true AND Email = null OR Phone = null")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT FROM Contact",
        "SELECT Id Contact",
        "SELECT Id FROM Contact WHERE",
        "SELECT Id FROM Contact WHERE Email = 'unterminated",
        "SELECT Id FROM Contact LIMIT x",
        "SELECT Id FROM Contact ORDER Email",
        "SELECT Id, FROM Contact",
    ],
)
def test_syntax_errors_answer_malformed_query(text: str) -> None:
    """Syntax errors become 400 MALFORMED_QUERY with Salesforce's row/column message."""
    with pytest.raises(SalesforceError) as caught:
        compile_query(text, include_deleted=False)
    assert caught.value.status == 400
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in caught.value.message


def test_unknown_field_answers_invalid_field() -> None:
    """A field the object lacks is INVALID_FIELD naming the column and entity."""
    with pytest.raises(SalesforceError) as caught:
        compile_query("SELECT Id, Nope__c FROM Contact", include_deleted=False)
    assert caught.value.error_code == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Contact'" in caught.value.message


def test_unknown_object_answers_invalid_type() -> None:
    """An sObject the org lacks is INVALID_TYPE."""
    with pytest.raises(SalesforceError) as caught:
        compile_query("SELECT Id FROM Account", include_deleted=False)
    assert caught.value.error_code == "INVALID_TYPE"


def test_filter_value_of_wrong_type_is_rejected() -> None:
    """A quoted value for a checkbox is refused, as Salesforce does."""
    with pytest.raises(SalesforceError) as caught:
        compile_query("SELECT Id FROM Contact WHERE DoNotCall = 'true'", include_deleted=False)
    assert caught.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"


def test_values_become_parameters_never_sql() -> None:
    """Literal values travel as bound parameters; the SQL text never contains them."""
    hostile = 'x\'); DROP TABLE "Contact"; --@x.com'
    compiled = compile_query(
        format_soql("SELECT Id FROM Contact WHERE Email = {}", hostile), include_deleted=False
    )
    assert "DROP" not in compiled.sql
    assert hostile.casefold() in compiled.params


def test_field_names_are_case_insensitive() -> None:
    """Field and object names match case-insensitively and come back canonical."""
    compiled = compile_query("select EMAIL, id from CONTACT", include_deleted=False)
    assert [f.name for f in compiled.fields] == ["Email", "Id"]
    assert compiled.spec.name == "Contact"
