"""Settings that would fail later or leak are refused by `validate` as `file:line` with exit 2: a
`ca_file` that is not a CA bundle, a file name that is no system name, a credential in a URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from consent_sync.cli import app
from support.config_files import MakeConfig

HUB = "connectors/hub.yaml"
CRM = "connectors/crm.yaml"


def _hub_with_ca(ca_file: str) -> dict[str, str | None]:
    return {HUB: f"type: hubspot\nauth:\n  access_token: ${{HUB_TOKEN}}\n  ca_file: {ca_file}\n"}


def _validate(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["validate", "--config", str(root), *args], env=env or {})


@pytest.fixture
def shadow_like(tmp_path: Path) -> Path:
    """A file that is readable but no PEM file, with content that must never be shown."""
    path = tmp_path / "shadow"
    path.write_text("root:$6$saltsalt$Zq81hashhashhash:19000:0:99999:7:::\n", encoding="utf-8")
    return path


def test_ca_file_that_is_a_directory_is_refused_offline(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    """Offline validate checks a literal ca_file: a directory is an error at its line."""
    root = make_config(_hub_with_ca(str(tmp_path)))
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert (
        f"{root}/{HUB}:4: ca_file {tmp_path} is a directory, not a PEM file of CA certificates"
        in result.stderr
    )


def test_ca_file_that_is_not_pem_is_refused_without_showing_it(
    make_config: MakeConfig, shadow_like: Path
) -> None:
    """A readable non-PEM file (like /etc/shadow) is refused; nothing of its content is shown."""
    root = make_config(_hub_with_ca(str(shadow_like)))
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert (
        f"{root}/{HUB}:4: ca_file {shadow_like} is not a PEM file holding a certificate"
        in result.stderr
    )
    assert "Zq81" not in result.output


@pytest.mark.skipif(not Path("/etc/shadow").exists(), reason="no /etc/shadow here")
def test_ca_file_etc_shadow_is_refused(make_config: MakeConfig) -> None:
    """`ca_file: /etc/shadow`: refused at its line whether or not it is readable, never shown."""
    root = make_config(_hub_with_ca("/etc/shadow"))
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert f"{root}/{HUB}:4: ca_file /etc/shadow " in result.stderr
    assert "root:" not in result.output


def test_ca_file_from_a_variable_is_checked_when_the_variable_is_set(
    make_config: MakeConfig, tmp_path: Path, ca_bundle: Path
) -> None:
    """`ca_file: ${VAR}` offline: checked when VAR is set, naming it; a real CA bundle passes."""
    root = make_config(_hub_with_ca("${HUB_CA}"))
    missing = tmp_path / "missing.pem"
    result = _validate(root, env={"HUB_CA": str(missing)})
    assert result.exit_code == 2, result.output
    assert f"{root}/{HUB}:4: ca_file {missing} (from HUB_CA) does not exist" in result.stderr
    assert _validate(root, env={"HUB_CA": str(ca_bundle)}).exit_code == 0
    assert _validate(root, env={"HUB_CA": ""}).exit_code == 0  # empty: the system's CAs
    unset = _validate(root)
    assert unset.exit_code == 0
    assert "hub.yaml:4: warning: environment variable HUB_CA is not set" in unset.stderr


def test_ca_file_is_checked_before_run_too(
    make_config: MakeConfig, config_env: dict[str, str], tmp_path: Path
) -> None:
    """Resolving for a run (`validate --live`) refuses a bad ca_file before any connection."""
    root = make_config(_hub_with_ca("${HUB_CA}"))
    result = _validate(root, "--live", env={**config_env, "HUB_CA": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert f"{root}/{HUB}:4: ca_file {tmp_path} (from HUB_CA) is a directory" in result.stderr


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("..yaml", "'.' is not a usable system name: it must start with a lowercase letter"),
        ("Salesforce.yaml", "'Salesforce' is not a usable system name: it must start with"),
        ("sf.eu.yaml", "'sf.eu' is not a usable system name: it may only hold lowercase"),
        ("s" * 64 + ".yaml", "is not a usable system name: it must be at most 63 characters"),
    ],
    ids=["dot", "capital", "inner dot", "too long"],
)
def test_file_names_that_are_no_system_names_are_refused(
    make_config: MakeConfig, file: str, reason: str
) -> None:
    """`connectors/..yaml` no longer makes a system named `.`: exit 2 naming the file and why."""
    root = make_config({f"connectors/{file}": "type: hubspot\nauth:\n  access_token: ${T}\n"})
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert f"{root}/connectors/{file}: " in result.stderr
    assert reason in result.stderr
    assert "systems:" not in result.stdout


def test_a_mapping_file_name_must_be_a_system_name_too(make_config: MakeConfig) -> None:
    """`mappings/..yaml` is refused the same way."""
    root = make_config({"mappings/..yaml": "system: .\nobjects: {}\n"})
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert f"{root}/mappings/..yaml: '.' is not a usable system name" in result.stderr


@pytest.mark.parametrize(
    ("file", "text", "line", "message"),
    [
        (
            CRM,
            "type: salesforce\nauth:\n  login_url: https://admin:Hunter2x@login.example.test\n"
            "  client_id: ${SF_ID}\n  client_secret: ${SF_SECRET}\n",
            3,
            "login_url must not contain a user name or password (user:password@host)",
        ),
        (
            HUB,
            "type: hubspot\nauth:\n  base_url: https://bot:Hunter2x@api.hubapi.com/\n"
            "  access_token: ${HUB_TOKEN}\n",
            3,
            "base_url must not contain a user name or password",
        ),
        (
            HUB,
            "type: hubspot\nauth:\n  base_url: https://api.hubapi.com/?hapikey=Hunter2x\n"
            "  access_token: ${HUB_TOKEN}\n",
            3,
            "base_url must not contain a credential in its query (hapikey=)",
        ),
        (
            HUB,
            "type: hubspot\nauth:\n  base_url: https://bot:${HUB_PASSWORD}@api.hubapi.com\n"
            "  access_token: ${HUB_TOKEN}\n",
            3,
            "base_url must not contain a user name or password",
        ),
    ],
    ids=["login_url password", "base_url password", "query key", "password reference"],
)
def test_a_credential_inside_a_url_is_refused_like_a_literal_secret(
    make_config: MakeConfig, file: str, text: str, line: int, message: str
) -> None:
    """A password in a URL setting is an error at its line, the password never shown."""
    root = make_config({file: text})
    result = _validate(root)
    assert result.exit_code == 2, result.output
    assert f"{root}/{file}:{line}: {message}" in result.stderr
    assert "Hunter2x" not in result.output


def test_a_credential_in_a_url_from_a_variable_is_refused_naming_it(
    make_config: MakeConfig, config_env: dict[str, str]
) -> None:
    """`login_url: ${SF_URL}` whose value holds user:password@ is refused when resolved (run,
    `validate --live`), naming the variable, before any connection; the value is never shown."""
    root = make_config()
    env = {**config_env, "SF_URL": "https://admin:Hunter2x@login.example.test"}
    result = _validate(root, "--live", env=env)
    assert result.exit_code == 2, result.output
    assert (
        f"{root}/{CRM}:3: login_url must not contain a user name or password "
        "(user:password@host) (from SF_URL)" in result.stderr
    )
    assert "Hunter2x" not in result.output
