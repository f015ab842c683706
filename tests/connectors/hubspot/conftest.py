"""Fixtures: a HubSpot emulator over HTTPS per module, connectors against it, a control client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.hubspot_portal import CONTACTS, Portal, start_portal, stop_portal


@pytest.fixture(scope="module")
def portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    """The module's emulator, seeded with the module's `CONTACTS` (3,000 unless it says)."""
    contacts: int = getattr(request.module, "CONTACTS", CONTACTS)
    running = start_portal(tmp_path_factory.mktemp("hubspot"), contacts)
    yield running
    stop_portal(running)


@pytest.fixture(autouse=True)
def _clean_portal(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and limits never leak from one test into the next."""
    yield
    if "portal" in request.fixturenames:
        box: Portal = request.getfixturevalue("portal")
        box.control.delete("/_sandbox/faults")
        box.limits()
