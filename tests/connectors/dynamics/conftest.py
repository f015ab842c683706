"""Fixtures: a Dataverse emulator over HTTPS per module and the shipped connector against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.dynamics_org import Org, start_org, stop_org

#: Contacts in a module's org unless the module sets `CONTACTS`.
CONTACTS = 1500


@pytest.fixture(scope="module")
def org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """The module's emulator, seeded with the module's `CONTACTS`."""
    contacts: int = getattr(request.module, "CONTACTS", CONTACTS)
    running = start_org(tmp_path_factory.mktemp("dynamics"), contacts)
    yield running
    stop_org(running)


@pytest.fixture(autouse=True)
def _clean_org(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults, limits and organisation settings never leak from one test into the next."""
    yield
    if "org" in request.fixturenames:
        box: Org = request.getfixturevalue("org")
        box.clear()
