"""The Dockerfile's install steps, replayed in a fresh virtualenv (no Docker engine here).

An editable install hides missing package data; this installs the project the way the image
does (`pip install .` from a copy holding only what the Dockerfile copies) and runs what the
image runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import venv
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


@pytest.mark.slow
def test_image_install_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """`pip install .` of what the image copies yields a working CLI with its migrations."""
    text = _dockerfile()
    sources = [
        name for line in re.findall(r"^COPY (.+)$", text, re.M) for name in line.split()[:-1]
    ]
    build = tmp_path / "src"
    build.mkdir()
    for name in sources:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, build / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, build / name)
    assert "pip install ." in text
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(build)],
        check=True,
        timeout=600,
    )
    cli = env_dir / "bin" / "consent-sync"
    work = tmp_path / "work"
    work.mkdir()
    database = f"sqlite:///{work / 'store.db'}"
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "CONSENT_SYNC_DATABASE_URL": database}
    upgraded = subprocess.run(
        [str(cli), "db", "upgrade"], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr
    validated = subprocess.run(
        [str(cli), "validate", "--config", str(REPO)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stderr
    helped = subprocess.run(
        [str(cli), "run", "--help"], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0, helped.stderr
