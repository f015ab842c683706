"""Fixtures: a Mailchimp emulator over HTTPS per module and the shipped connector against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.mailchimp_audience import Audience, start_audience, stop_audience

#: Members in a module's audience unless the module sets `CONTACTS`.
CONTACTS = 1500


@pytest.fixture(scope="module")
def audience(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Audience]:
    """The module's emulator, seeded with the module's `CONTACTS`."""
    contacts: int = getattr(request.module, "CONTACTS", CONTACTS)
    running = start_audience(tmp_path_factory.mktemp("mailchimp"), contacts)
    yield running
    stop_audience(running)


@pytest.fixture(autouse=True)
def _clean_audience(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults never leak from one test into the next."""
    yield
    if "audience" in request.fixturenames:
        box: Audience = request.getfixturevalue("audience")
        box.clear_faults()
