"""The spec's small languages: record paths (read and written), templates (sandboxed, typed),
path placeholders (percent-encoded)."""

from __future__ import annotations

import pytest

from consent_sync.config.declarative_paths import MISSING, PathError, parse_path
from consent_sync.config.declarative_templates import (
    TemplateProblem,
    check_template,
    fill_path,
    render_value,
    template_names,
)

MEMBER = {
    "id": "8f1c",
    "merge_fields": {"FNAME": "Ada"},
    "marketing_permissions": [
        {"marketing_permission_id": "e7", "text": "Email", "enabled": True},
        {
            "marketing_permission_id": "a1",
            "text": "Customized Online Advertising",
            "enabled": False,
        },
    ],
    "@odata.nextLink": "https://org.example/api/contacts?$skiptoken=2",
    "_links": [{"rel": "self"}],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("id", "8f1c"),
        ("merge_fields.FNAME", "Ada"),
        ("marketing_permissions[marketing_permission_id=a1].enabled", False),
        ("marketing_permissions[text=Email].enabled", True),
        ("marketing_permissions[1].text", "Customized Online Advertising"),
        ("@odata.nextLink", "https://org.example/api/contacts?$skiptoken=2"),
        ("_links[0].rel", "self"),
        ("", MEMBER),
    ],
)
def test_a_path_finds_its_value(path: str, value: object) -> None:
    """Keys, nested keys, list items by key or position, keys holding dots, the whole answer."""
    assert parse_path(path).get(MEMBER) == value


@pytest.mark.parametrize(
    "path",
    [
        "missing",
        "merge_fields.LNAME",
        "marketing_permissions[text=SMS].enabled",
        "_links[5].rel",
        "id.deeper",
    ],
)
def test_a_path_that_is_not_there_is_missing_not_an_error(path: str) -> None:
    """What an answer lacks reads as MISSING (the record simply does not hold the field)."""
    assert parse_path(path).get(MEMBER) is MISSING


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("a..b", "empty key"),
        (".a", "empty key"),
        ("a.", "ends with a dot"),
        ("[0]", "must start with a key"),
        ("a[x]", "is not [<number>] or [<key>=<value>]"),
        ("a[0]b", "needs a '.'"),
    ],
)
def test_a_malformed_path_says_what_is_wrong(path: str, problem: str) -> None:
    with pytest.raises(PathError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_path(path)


def test_writing_at_paths_builds_what_a_read_finds() -> None:
    """Values written at nested and list-item paths form a body that reads back the same."""
    body: dict[str, object] = {}
    parse_path("status").put(body, "unsubscribed")
    parse_path("marketing_permissions[marketing_permission_id=a1].enabled").put(body, False)
    parse_path("marketing_permissions[marketing_permission_id=e7].enabled").put(body, True)
    parse_path("merge_fields.FNAME").put(body, "Ada")
    assert body == {
        "status": "unsubscribed",
        "marketing_permissions": [
            {"marketing_permission_id": "a1", "enabled": False},
            {"marketing_permission_id": "e7", "enabled": True},
        ],
        "merge_fields": {"FNAME": "Ada"},
    }
    assert parse_path("marketing_permissions[marketing_permission_id=e7].enabled").get(body)


def test_a_whole_expression_keeps_its_type_and_omit_drops_a_key() -> None:
    """`{{ items }}` stays a list, a boolean stays a boolean; text renders as text."""
    context = {"items": [{"a": 1}], "values": {"flag": False}, "vars": {"list": "x y"}}
    rendered = render_value(
        {
            "members": "{{ items }}",
            "flag": "{{ values.flag }}",
            "label": "list {{ vars.list }}",
            "gone": "{{ values.status if 'status' in values else omit }}",
            "kept": [1, "{{ omit }}", 2],
        },
        context,
    )
    assert rendered == {"members": [{"a": 1}], "flag": False, "label": "list x y", "kept": [1, 2]}


def test_templates_cannot_reach_python_internals() -> None:
    """The sandbox refuses attribute tricks; the failure names no value."""
    with pytest.raises(TemplateProblem):
        render_value("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(TemplateProblem, match="undefined"):
        render_value("{{ nothing_here }}", {})


def test_template_problems_are_found_before_anything_runs() -> None:
    assert check_template("{{ a | nosuchfilter }}") is not None
    assert check_template("{% for x in y %}") is not None
    assert check_template("{{ ids | join(',') }}") is None
    assert check_template("plain text") is None
    assert template_names({"a": "{{ email }}", "b": ["{{ items | length }}"]}) == {"email", "items"}


def test_path_placeholders_are_percent_encoded_as_one_segment() -> None:
    """An id with a slash or a space cannot step out of its path segment."""
    assert fill_path("/lists/{list_id}/members/{id}", {"list_id": "a1", "id": "x/../y z"}) == (
        "/lists/a1/members/x%2F..%2Fy%20z"
    )
    assert render_value('{{ "O\'Brien" | odata_string }}', {}) == "'O''Brien'"
