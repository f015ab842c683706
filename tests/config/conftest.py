"""Fixtures for the config tests: a baseline configuration directory and its environment."""

from pathlib import Path

import pytest
import trustme

from support.config_files import config_env, make_config
from support.sandboxes import sandbox

__all__ = ["ca_bundle", "config_env", "make_config", "sandbox"]


@pytest.fixture
def ca_bundle(tmp_path: Path) -> Path:
    """A PEM file holding one CA certificate, as the sandbox writes for its emulators."""
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path
