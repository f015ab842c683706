"""Fixtures: the Mailchimp emulator per module, declarative connectors against it."""

from support.declarative_audience import _no_leftover_faults, audience

__all__ = ["_no_leftover_faults", "audience"]
