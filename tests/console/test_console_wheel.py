"""The wheel ships the console's templates and stylesheet (it renders with nothing from the
internet), requires Jinja2, and carries no browser-test tooling (Playwright, axe-core)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from support.paths import REPO


def test_the_wheel_holds_the_console_and_no_test_tooling(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), source],
        check=True,
        timeout=300,
    )
    (built,) = tmp_path.glob("consent_sync-*.whl")
    with zipfile.ZipFile(built) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in wheel.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    console = REPO / "src/consent_sync/console"
    shipped = {
        f"consent_sync/console/{path.relative_to(console).as_posix()}"
        for folder in ("templates", "static")
        for path in (console / folder).iterdir()
    }
    assert "consent_sync/console/templates/conflict.html" in shipped
    assert "consent_sync/console/static/console.css" in shipped
    assert shipped <= names
    assert not [n for n in names if n.endswith(".js")]  # no script, no axe-core
    assert any(line.startswith("jinja2") and "extra" not in line for line in requires)
    for tool in ("playwright", "axe-playwright-python"):
        lines = [line for line in requires if line.startswith(tool)]
        assert lines and all('extra == "dev"' in line for line in lines), tool
