"""What the wheel ships: the product with its migrations, never the CRM emulators.

The editable install of a checkout serves all of src/, so only a built wheel shows what
setuptools' package discovery leaves out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The wheel `pip wheel . --no-deps` builds from this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    # A copy of what the build reads: an in-tree build would leave build/ behind, and stale
    # files there end up in later wheels.
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    # Build isolation installs the build backend (setuptools, wheel) from the configured index.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(work),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (built,) = work.glob("consent_sync-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_wheel_holds_no_sandbox_code(wheel: zipfile.ZipFile) -> None:
    """No file of consent_sync_sandbox (the emulators, demo, bench) is in the wheel."""
    names = wheel.namelist()
    assert [name for name in names if name.startswith("consent_sync_sandbox")] == []
    assert "consent_sync/cli/__init__.py" in names
    (top_level,) = [name for name in names if name.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["consent_sync"]


def test_wheel_holds_the_migrations(wheel: zipfile.ZipFile) -> None:
    """Alembic's environment, template and every revision ship, so `db upgrade` works."""
    migrations = REPO / "src/consent_sync/store/migrations"
    expected = {
        f"consent_sync/store/migrations/{path.relative_to(migrations).as_posix()}"
        for path in migrations.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "consent_sync/store/migrations/versions/0001_initial.py" in expected
    assert expected <= set(wheel.namelist())


def test_trustme_is_a_sandbox_extra_not_a_product_requirement(wheel: zipfile.ZipFile) -> None:
    """Only the emulators use trustme: the wheel requires it under the `sandbox` extra alone."""
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    trustme = [line for line in requires if line.startswith("trustme")]
    assert trustme and all(line.endswith('extra == "sandbox"') for line in trustme)
    assert "Provides-Extra: sandbox" in wheel.read(metadata).decode()
