"""Fixtures for the config tests: a baseline configuration directory and its environment."""

from support.config_files import config_env, make_config
from support.sandboxes import sandbox

__all__ = ["config_env", "make_config", "sandbox"]
