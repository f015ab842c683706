"""Fixtures for the CLI tests: the module's sandbox, for commands that talk to both CRMs."""

from support.sandboxes import sandbox

__all__ = ["sandbox"]
