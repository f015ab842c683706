"""The Dockerfile's install steps, replayed in a fresh virtualenv (no Docker engine here).

An editable install hides missing package data and serves the whole checkout; this installs
the project the way the image does (`pip install .` from a copy holding only what the
Dockerfile copies) and runs what the image runs.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_dockerfile_runs_the_daemon_as_a_non_root_user() -> None:
    """Slim Python base, a non-root user, `consent-sync run` as entrypoint, a /healthz check."""
    text = _dockerfile()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER consent$", text, re.M)
    assert 'ENTRYPOINT ["consent-sync"]' in text
    assert re.search(r'^CMD \["run"', text, re.M)
    assert "/healthz" in text
    assert "ENV CONSENT_SYNC_CONFIG=/config" in text


def _dockerignored(directory: str, names: list[str]) -> set[str]:
    """The `names` in `directory` that .dockerignore keeps out of the build context."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "the replay knows no exceptions"
    ignored: set[str] = set()
    for name in names:
        relative = (Path(directory) / name).relative_to(REPO).as_posix()
        if any(
            fnmatch.fnmatch(relative, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:]))
            for pattern in patterns
        ):
            ignored.add(name)
    return ignored


@dataclass(frozen=True)
class Image:
    """A virtualenv holding what the image's `pip install .` installs."""

    bin: Path
    env: dict[str, str]
    work: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """`pip install .` of what the Dockerfile copies (less .dockerignore), in a fresh venv."""
    text = _dockerfile()
    sources = [
        name for line in re.findall(r"^COPY (.+)$", text, re.M) for name in line.split()[:-1]
    ]
    root = tmp_path_factory.mktemp("image")
    build = root / "src"
    build.mkdir()
    for name in sources:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, build / name, ignore=_dockerignored)
        else:
            shutil.copy(path, build / name)
    assert "pip install ." in text
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(build)],
        check=True,
        timeout=600,
    )
    work = root / "work"
    work.mkdir()
    database = f"sqlite:///{work / 'store.db'}"
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "CONSENT_SYNC_DATABASE_URL": database}
    return Image(env_dir / "bin", env, work)


@pytest.mark.slow
def test_image_install_steps_work_in_a_fresh_virtualenv(image: Image) -> None:
    """`pip install .` of what the image copies yields a working CLI with its migrations."""
    upgraded = image.run("consent-sync", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    validated = image.run("consent-sync", "validate", "--config", str(REPO))
    assert validated.returncode == 0, validated.stderr
    helped = image.run("consent-sync", "run", "--help")
    assert helped.returncode == 0, helped.stderr


@pytest.mark.slow
def test_image_holds_no_emulators(image: Image) -> None:
    """The image has neither the sandbox package nor trustme, which only the emulators need."""
    for module in ("consent_sync_sandbox", "trustme"):
        imported = image.run("python", "-c", f"import {module}")
        assert imported.returncode == 1
        assert f"No module named '{module}'" in imported.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sandbox", "demo", "bench"])
def test_image_sandbox_commands_exit_2_naming_how_to_get_them(image: Image, command: str) -> None:
    """`consent-sync sandbox|demo|bench` exit 2 with one line: they come with a source checkout."""
    done = image.run("consent-sync", command)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"consent-sync {command}" in done.stderr
    assert "source checkout" in done.stderr
    assert "pip install -e '.[sandbox]'" in done.stderr


@pytest.mark.slow
def test_image_help_lists_the_sandbox_commands_as_not_installed(image: Image) -> None:
    """`consent-sync --help` in the image still names them, saying where they come from."""
    listed = image.run("consent-sync", "--help")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "Not in this installation" in line]
    assert [row.strip("│ ").split()[0] for row in rows] == ["sandbox", "demo", "bench"]
