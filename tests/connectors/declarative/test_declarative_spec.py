"""A declarative connector spec is validated like the rest of the configuration: every mistake
is one `file:line: message`, and the documented examples are valid as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from consent_sync.config import ConfigError, load_config
from consent_sync.config.connector_settings import DeclarativeConnector
from support.config_files import ENV, write_config
from support.paths import REPO

#: A small valid Mailchimp-shaped spec; each case bends one line of it.
SPEC = """\
type: declarative
vars:
  list_id: ${LIST}
auth:
  type: basic
  username: consent-sync
  password: ${KEY}
requester:
  base_url: https://mc.example.test/3.0
streams:
  members:
    path: /lists/{list_id}/members
    records: members
    id: id
    modified: last_changed
    order: descending
    paginator: {type: offset, page_size: 100, limit_param: count, total: total_items}
    incremental: {type: datetime, params: {since_last_changed: "{{ since }}"}}
    read: {path: "/lists/{list_id}/members/{id}"}
    write:
      path: /lists/{list_id}
      max_items: 500
      body: {members: "{{ items }}", update_existing: true}
      item: {email_address: "{{ email }}"}
      results: {match: email, ok: [updated_members], ok_key: email_address}
"""
MAPPING = """\
system: mc
objects:
  members:
    match: {email: email_address}
    fields:
      status:
        purpose: email_marketing
        values: {subscribed: granted, unsubscribed: denied, cleaned: unknown}
"""
SPEC_ENV = {**ENV, "LIST": "abc123", "KEY": "mc-key-Tq55-us21"}


def _load(tmp_path: Path, spec: str = SPEC, mapping: str = MAPPING) -> list[str]:
    root = write_config(tmp_path / "cfg", {"connectors/mc.yaml": spec, "mappings/mc.yaml": mapping})
    try:
        load_config(root, env=SPEC_ENV)
    except ConfigError as exc:
        return [str(issue).replace(f"{root}/", "") for issue in exc.errors]
    return []


def _bent(old: str, new: str) -> str:
    assert old in SPEC, old
    return SPEC.replace(old, new, 1)


def test_a_valid_spec_loads_into_its_model(tmp_path: Path) -> None:
    """The baseline spec loads, with its paths parsed and its variables resolved."""
    root = write_config(tmp_path / "cfg", {"connectors/mc.yaml": SPEC, "mappings/mc.yaml": MAPPING})
    config = load_config(root, env=SPEC_ENV)
    connector = config.connectors["mc"]
    assert isinstance(connector, DeclarativeConnector)
    assert connector.vars == {"list_id": "abc123"}
    stream = connector.streams["members"]
    assert stream.records.get({"members": [1]}) == [1]
    assert stream.write is not None and stream.write.max_items == 500


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    records: members\n",
            "    records: members..list\n",
            "connectors/mc.yaml:13: records is not a valid path: it has an empty key",
        ),
        (
            '{since_last_changed: "{{ since }}"}',
            '{since_last_changed: "{{ since | nosuchfilter }}"}',
            "connectors/mc.yaml:18: since_last_changed is not a valid template: "
            "No filter named 'nosuchfilter'",
        ),
        (
            "    path: /lists/{list_id}/members\n",
            "    path: /lists/{audience}/members\n",
            "connectors/mc.yaml:12: path placeholder {audience} is not a variable of vars "
            "(list_id)",
        ),
        (
            "    path: /lists/{list_id}/members\n",
            "    path: /lists/{list_id}/members/{id}\n",
            "{id} is only for read and write paths",
        ),
        (
            "    order: descending\n",
            "    order: ascending\n",
            "connectors/mc.yaml:16: order ascending cannot be paged by offset",
        ),
        (
            "      results: {match: email, ok: [updated_members], ok_key: email_address}\n",
            "",
            "connectors/mc.yaml:20: a batch write (no {id} in its path) needs results",
        ),
        (
            "      results: {match: email, ok: [updated_members], ok_key: email_address}\n",
            "      results: {match: email, ok: [updated_members]}\n",
            "connectors/mc.yaml:25: results.ok needs ok_key",
        ),
        (
            "  base_url: https://mc.example.test/3.0\n",
            "  base_url: https://mc.example.test/3.0\n  headers: {X-Api-Key: abc123secret}\n",
            "connectors/mc.yaml:10: header X-Api-Key carries a credential: it must be an "
            "${ENV_VAR} reference",
        ),
        (
            "  password: ${KEY}\n",
            "  password: mc-key-literal\n",
            "connectors/mc.yaml:7: password must be an ${ENV_VAR} reference, not a literal",
        ),
        (
            "    paginator: {type: offset,",
            "    paginator: {type: scroll,",
            "connectors/mc.yaml:17: paginator",
        ),
        (
            "    read: {path:",
            "    read: {max_ids: 0, path:",
            "connectors/mc.yaml:19: max_ids must be at least 1",
        ),
    ],
    ids=[
        "bad path",
        "bad template",
        "unknown placeholder",
        "id in a listing path",
        "ascending offset",
        "batch without results",
        "ok without key",
        "literal credential header",
        "literal secret",
        "unknown paginator",
        "bad bound",
    ],
)
def test_spec_mistakes_are_reported_at_their_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """Each mistake gives one error naming the file, the line and what is wrong."""
    errors = _load(tmp_path, _bent(old, new))
    assert any(expected in error for error in errors), errors
    assert len(errors) == 1, errors


def test_a_literal_credential_header_is_never_echoed(tmp_path: Path) -> None:
    """The message about a literal credential header names the header, not its value."""
    errors = _load(
        tmp_path,
        _bent(
            "  base_url: https://mc.example.test/3.0\n",
            "  base_url: https://mc.example.test/3.0\n"
            "  headers: {Authorization: Bearer s3cr3t-Zz9}\n",
        ),
    )
    assert errors and all("s3cr3t-Zz9" not in e for e in errors)


def test_a_mapping_object_must_be_a_stream(tmp_path: Path) -> None:
    """A mapping naming an object the spec has no stream for is an error at that object."""
    mapping = MAPPING.replace("  members:\n", "  contacts:\n")
    errors = _load(tmp_path, mapping=mapping)
    assert errors == ["mappings/mc.yaml:3: contacts is not a stream of the connector (members)"]


def test_a_pushed_field_needs_a_stream_that_writes(tmp_path: Path) -> None:
    """Without `write`, a field whose direction pushes is refused (direction: pull is fine)."""
    spec = SPEC[: SPEC.index("    write:\n")]
    assert _load(tmp_path, spec) == [
        "mappings/mc.yaml:6: stream members has no write: status cannot be pushed; "
        "set direction: pull or add write to the stream"
    ]
    pull_only = MAPPING.replace(
        "purpose: email_marketing", "purpose: email_marketing\n        direction: pull"
    )
    assert _load(tmp_path / "again", spec, pull_only) == []


def test_a_requester_ca_file_is_checked_like_any_ca_file(tmp_path: Path) -> None:
    """`requester.ca_file` naming a file that is no CA bundle is an error at its line."""
    missing = tmp_path / "nowhere.pem"
    errors = _load(
        tmp_path,
        _bent(
            "  base_url: https://mc.example.test/3.0\n",
            f"  base_url: https://mc.example.test/3.0\n  ca_file: {missing}\n",
        ),
    )
    assert errors == [f"connectors/mc.yaml:10: ca_file {missing} does not exist"]


def _documented_specs() -> dict[str, str]:
    text = (REPO / "docs" / "connectors.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    specs = {}
    for block in blocks:
        if block.startswith("type: declarative\n") and "streams:\n  " in block:
            name = "mailchimp" if "MAILCHIMP" in block else "dynamics"
            specs[name] = block
    return specs


def test_the_documented_examples_are_valid_specs(tmp_path: Path) -> None:
    """Both example specs in docs/connectors.md load as written (with a mapping for each)."""
    specs = _documented_specs()
    assert set(specs) == {"mailchimp", "dynamics"}
    mappings = {
        "mailchimp": MAPPING.replace("system: mc", "system: mailchimp"),
        "dynamics": textwrap.dedent("""\
            system: dynamics
            objects:
              contacts:
                match: {email: emailaddress1}
                fields:
                  donotbulkemail:
                    purpose: email_marketing
                    values: {true: denied, false: not_opted_out}
            """),
    }
    files: dict[str, str | None] = {}
    for name, spec in specs.items():
        files[f"connectors/{name}.yaml"] = spec
        files[f"mappings/{name}.yaml"] = mappings[name]
    root = write_config(tmp_path / "cfg", files)
    config = load_config(root, resolve_env=False)
    assert {"mailchimp", "dynamics"} <= set(config.connectors)
