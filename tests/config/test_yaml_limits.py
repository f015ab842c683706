"""Hostile or broken YAML is refused as `file:line: message` with exit 2, quickly and in bounded
memory: alias bombs, huge files, deep nesting, control characters, values that do not convert."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consent_sync.cli import app
from support.config_files import MakeConfig
from support.paths import CONSENT_SYNC

PURPOSES = "mappings/purposes.yaml"


def _alias_bomb(levels: int = 7, width: int = 9) -> str:
    """The "billion laughs": a few hundred bytes that expand to width**levels values."""
    lines = ["a: &a [" + ", ".join(['"lol"'] * width) + "]"]
    for previous, name in itertools.pairwise("abcdefghij"[:levels]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 7, width: int = 9) -> str:
    """The same with `<<` merge keys, which PyYAML expands by copying pairs."""
    lines = ["m0: &m0 {x: 1, y: 2}"]
    for level in range(1, levels + 1):
        merged = ", ".join([f"*m{level - 1}"] * width)
        lines.append(f"m{level}: &m{level} {{<<: [{merged}]}}")
    return "\n".join(lines) + "\n"


def _validate(root: Path) -> subprocess.CompletedProcess[str]:
    """`consent-sync validate` as a real process; the timeout only keeps a regression from
    hanging the suite (before the limits, the alias bomb ran 65 s at 2.95 GB)."""
    env = {key: value for key, value in os.environ.items() if key != "CONSENT_SYNC_CONFIG"}
    return subprocess.run(
        [str(CONSENT_SYNC), "validate", "--config", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_alias_bomb_is_refused_at_the_alias_that_sets_it_off(make_config: MakeConfig) -> None:
    """A 7-level alias bomb in purposes.yaml: exit 2 at the line of the alias that exceeds the
    budget (5: 9**5 values), one error, no traceback."""
    bomb = _alias_bomb()
    assert len(bomb.encode()) < 400
    root = make_config({PURPOSES: bomb})
    result = _validate(root)
    assert result.returncode == 2, result.stderr
    assert (
        f"{root}/{PURPOSES}:5: more than 20,000 values once aliases and merges are expanded"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith(f"1 error in {root}")


def test_merge_key_bomb_is_refused(make_config: MakeConfig) -> None:
    """`<<: [*m, *m, …]` nested seven times is refused the same way, at its line."""
    root = make_config({PURPOSES: _merge_bomb()})
    result = CliRunner().invoke(app, ["validate", "--config", str(root)], env={})
    assert result.exit_code == 2
    assert f"{root}/{PURPOSES}:5: more than 20,000 values" in result.stderr


def test_a_50_mb_file_is_refused_by_its_size(make_config: MakeConfig) -> None:
    """A 50 MB purposes.yaml is refused before parsing, naming the file and the limit."""
    root = make_config()
    with (root / PURPOSES).open("a", encoding="utf-8") as stream:
        stream.write(("# " + "x" * 1022 + "\n") * 50 * 1024)
    result = _validate(root)
    assert result.returncode == 2, result.stderr
    assert (
        f"{root}/{PURPOSES}: is larger than 4,194,304 bytes (4 MiB), the limit for a "
        "configuration file" in result.stderr
    )


@pytest.mark.parametrize(
    "text",
    [
        "purposes: " + "[" * 5000 + "]" * 5000 + "\n",
        "purposes: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        "purposes:\n  " + "- " * 5000 + "x\n",
    ],
    ids=["flow sequences", "flow mappings", "block sequences"],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(make_config: MakeConfig, text: str) -> None:
    """5,000 levels of nesting: exit 2 at the line, not a RecursionError traceback."""
    root = make_config({PURPOSES: text})
    result = CliRunner().invoke(app, ["validate", "--config", str(root)], env={})
    assert result.exit_code == 2, result.output
    line = 1 if text.startswith("purposes: ") else 2
    assert f"{root}/{PURPOSES}:{line}: nested more than 64 levels deep" in result.stderr


def test_alias_chains_count_towards_the_depth(make_config: MakeConfig) -> None:
    """600 aliases each nesting the one before: refused at the first past the limit (a62)."""
    chain = "a0: &a0 [1]\n" + "".join(f"a{n}: &a{n} [*a{n - 1}]\n" for n in range(1, 600))
    root = make_config({PURPOSES: chain})
    result = CliRunner().invoke(app, ["validate", "--config", str(root)], env={})
    assert result.exit_code == 2, result.output
    assert f"{root}/{PURPOSES}:63: nested more than 64 levels deep" in result.stderr


@pytest.mark.parametrize(
    ("title", "line", "message"),
    [
        ("Marketing\x00email", "3: column 21", "control character U+0000 (NUL) is not allowed"),
        ("Marketing\x1bemail", "3: column 21", "control character U+001B is not allowed"),
        ('"Marketing\\0email"', "3", "contains a control character U+0000 (NUL)"),
        ('"Marketing\\x07email"', "3", "contains a control character U+0007"),
    ],
    ids=["raw NUL", "raw escape", "escaped NUL", "escaped bell"],
)
def test_control_characters_are_refused_at_their_line(
    make_config: MakeConfig, title: str, line: str, message: str
) -> None:
    """A NUL byte or other control character, raw or as a YAML escape: exit 2 at its line."""
    text = f"purposes:\n  email_marketing:\n    title: {title}\n    channel: email\n"
    root = make_config({PURPOSES: text})
    result = CliRunner().invoke(app, ["validate", "--config", str(root)], env={})
    assert result.exit_code == 2, result.output
    assert f"{root}/{PURPOSES}:{line}: {message}" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-13-45", "cannot be read as a YAML timestamp (month must be in 1..12)"),
        ("9" * 5000, "cannot be read as a YAML int"),
        ("!!timestamp soon", "cannot be read as a YAML timestamp"),
    ],
    ids=["impossible date", "5,000-digit number", "tagged non-date"],
)
def test_values_that_do_not_convert_are_errors_at_their_line(
    make_config: MakeConfig, value: str, message: str
) -> None:
    """A date that does not exist or a number too long to convert: exit 2 at its line."""
    text = f"purposes:\n  email_marketing:\n    title: {value}\n    channel: email\n"
    root = make_config({PURPOSES: text})
    result = CliRunner().invoke(app, ["validate", "--config", str(root)], env={})
    assert result.exit_code == 2, result.output
    assert f"{root}/{PURPOSES}:3: {message}; quote it if it is text" in result.stderr
