"""What starting the CLI loads: typer and the pure domain, never the daemon's or sandbox's stack.

Each check runs in a fresh interpreter, so modules an earlier test imported cannot hide a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from support.databases import migrate
from support.paths import REPO

#: A web server, a CRM SDK, the scheduler or the emulators: only the commands that use them
#: may import them.
FORBIDDEN = (
    "fastapi",
    "starlette",
    "uvicorn",
    "simple_salesforce",
    "hubspot",
    "apscheduler",
    "trustme",
    "consent_sync_sandbox",
)

# Runs `consent_sync.cli:main` in-process with ARGV, then reports the exit code, what it printed
# and every module loaded by then.
_RUN_MAIN = textwrap.dedent(
    """
    import contextlib, io, json, sys
    {prelude}
    from consent_sync.cli import main

    sys.argv = ["consent-sync", *json.loads(sys.argv[1])]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as stop:
            code = stop.code
    print(json.dumps({{"code": code, "out": out.getvalue(), "err": err.getvalue(),
                       "modules": sorted(sys.modules)}}))
    """
)


def _fresh(code: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """What `code`, run by a new interpreter, printed as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=None if env is None else {**os.environ, **env},
    )
    return json.loads(done.stdout)


def _main(*argv: str, prelude: str = "", env: Mapping[str, str] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = _fresh(_RUN_MAIN.format(prelude=prelude), json.dumps(argv), env=env)
    return result


def _forbidden(modules: list[str]) -> list[str]:
    return sorted({name.partition(".")[0] for name in modules} & set(FORBIDDEN))


def test_importing_the_cli_loads_no_web_server_sdk_or_sandbox() -> None:
    """`import consent_sync.cli` loads no web server, CRM SDK, scheduler or sandbox module."""
    modules = _fresh("import json, sys, consent_sync.cli; print(json.dumps(sorted(sys.modules)))")
    assert _forbidden(modules) == []
    assert "consent_sync.cli" in modules


@pytest.mark.parametrize(
    "argv",
    [
        ("ledger", "verify", "--help"),
        ("ledger", "--help"),
        ("run", "--help"),
        ("status", "--help"),
        ("subject", "show", "--help"),
    ],
)
def test_help_of_a_product_command_loads_no_web_server_sdk_or_sandbox(
    argv: tuple[str, ...],
) -> None:
    """`--help` of a command prints its usage without importing the stack that command runs."""
    result = _main(*argv)
    assert (result["code"], result["err"]) == (0, "")
    assert "Usage: consent-sync" in result["out"]
    assert _forbidden(result["modules"]) == []
    assert "sqlalchemy" not in result["modules"]  # the database is the commands' business, too
    # A usage text logs nothing: no logging stack, no configuration models (the read commands'
    # start-up budget is 0.5 s, docs/performance.md).
    assert "structlog" not in result["modules"]
    assert "consent_sync.config.connector_settings" not in result["modules"]


#: What a read command that opens the store must not load: schema migrations (the version is
#: checked in plain SQL), the logging stack (set up on the first log record), the engine,
#: connectors, daemon and API of the product, and whatever `FORBIDDEN` names.
READ_FORBIDDEN = (
    "alembic",
    "structlog",
    "consent_sync.api",
    "consent_sync.connectors",
    "consent_sync.daemon",
    "consent_sync.sync",
)


def _read_forbidden(modules: list[str]) -> list[str]:
    loaded = set(modules)
    found = {name for name in READ_FORBIDDEN if name in loaded}
    return sorted(found | set(_forbidden(modules)))


@pytest.fixture(scope="module")
def read_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite store holding one person's manual denial; its environment."""
    path = tmp_path_factory.mktemp("read-commands") / "store.db"
    env = {"CONSENT_SYNC_DATABASE_URL": migrate(f"sqlite:///{path}")}
    record = ("consent", "record", "ada@example.com", "email_marketing", "denied")
    result = _main(*record, "--source", "alice", "--config", str(REPO), env=env)
    assert result["code"] == 0, result["err"]
    return env


@pytest.mark.parametrize(
    ("argv", "printed"),
    [
        (("ledger", "verify"), "ledger OK: 1 row(s) verified"),
        (("ledger", "head"), "1:"),
        (("subject", "show", "ada@example.com", "--config", str(REPO)), "opted out"),
        (("status", "--config", str(REPO)), "ok: nothing is late"),
    ],
)
def test_read_commands_open_the_store_without_migrations_logging_or_the_engine(
    read_store: dict[str, str], argv: tuple[str, ...], printed: str
) -> None:
    """The read commands do their work on a real store loading no Alembic, structlog, web
    server, CRM SDK, sandbox or the product's engine (their start-up budget is 0.5 s)."""
    result = _main(*argv, env=read_store)
    assert (result["code"], result["err"]) == (0, ""), result["err"]
    assert printed in result["out"]
    assert "consent_sync.store.schema" in result["modules"]  # the schema was checked
    assert _read_forbidden(result["modules"]) == []
    # Not the whole configuration either: `status` reads each system's SLA from its connector
    # file, the others only the purposes.
    assert "consent_sync.config.connector_settings" not in result["modules"]


def test_a_read_command_still_refuses_an_outdated_schema(tmp_path: Path) -> None:
    """The plain-SQL version check refuses a store at an older revision, naming the upgrade."""
    url = migrate(f"sqlite:///{tmp_path / 'old.db'}", "0001")
    result = _main("ledger", "verify", env={"CONSENT_SYNC_DATABASE_URL": url})
    assert result["code"] == 2
    assert "is at schema 0001" in result["err"]
    assert "consent-sync db upgrade" in result["err"]
    assert "alembic" not in result["modules"]


def test_loading_only_the_purposes_builds_no_connector_or_mapping_models() -> None:
    """`load_purposes` (what `ledger verify` and `subject show` need) skips the other models."""
    modules = _fresh(
        "import json, sys\n"
        "from pathlib import Path\n"
        "from consent_sync.config import load_purposes\n"
        "purposes = load_purposes(Path(sys.argv[1]))\n"
        "print(json.dumps(sorted(sys.modules)))",
        str(REPO),
    )
    assert "consent_sync.config.connector_settings" not in modules
    assert "consent_sync.config.mapping_checks" not in modules
    assert "apscheduler" not in {name.partition(".")[0] for name in modules}


def test_top_level_help_lists_the_sandbox_plugin_commands_in_a_checkout() -> None:
    """In a checkout `consent-sync --help` lists sandbox, demo and bench next to the product's."""
    result = _main("--help")
    assert result["code"] == 0
    listed = {line.strip("│ ").split(" ")[0] for line in result["out"].splitlines()}
    assert {"validate", "sync", "run", "ledger", "sandbox", "demo", "bench"} <= listed
    assert "consent_sync_sandbox.cli" in result["modules"]


@pytest.mark.parametrize("command", ["sandbox", "demo", "bench"])
def test_sandbox_commands_without_the_sandbox_exit_2_saying_how_to_get_it(command: str) -> None:
    """Where consent_sync_sandbox cannot be imported, its commands exit 2 with a one-line hint."""
    blocked = "sys.modules['consent_sync_sandbox'] = None  # as if not installed"
    result = _main(command, "--contacts", "300", prelude=blocked)
    assert result["code"] == 2
    assert result["out"] == ""
    lines = result["err"].splitlines()
    assert len(lines) == 1, result["err"]
    assert f"consent-sync {command}" in lines[0]
    assert "pip install -e '.[sandbox]'" in lines[0]


def test_cli_names_the_config_directory_variable_as_the_config_package_does() -> None:
    """The CLI's own copy of CONFIG_ENV (kept to start without the config package) agrees."""
    from consent_sync.cli.options import CONFIG_ENV as CLI_CONFIG_ENV
    from consent_sync.config import CONFIG_ENV

    assert CLI_CONFIG_ENV == CONFIG_ENV
