"""The Dataverse emulator over HTTPS per module, and declarative connectors against it built
from the Dataverse-shaped example spec of docs/connectors.md through the factory."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.declarative import DeclarativeConnector
from consent_sync.connectors.factory import build_connector
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.config_files import ENV, write_config
from support.declarative_audience import FAST_RETRY, documented_spec

CONTACTS_SEEDED = 240
MAPPING = """\
system: dynamics
objects:
  contacts:
    match: {email: emailaddress1}
    fields:
      donotbulkemail:
        purpose: email_marketing
        values: {true: denied, false: not_opted_out}
"""
#: Only the Dataverse system: the baseline's two systems are left out.
ALONE: dict[str, str | None] = {
    "connectors/crm.yaml": None,
    "connectors/hub.yaml": None,
    "mappings/crm.yaml": None,
    "mappings/hub.yaml": None,
}
CONTACTS = "GET /api/data/v{version}/contacts"
BATCH = "POST /api/data/v{version}/$batch"


@dataclass
class Environment:
    """A running Dataverse emulator, its control surface, and connectors built against it."""

    running: RunningSandbox
    control: httpx.Client
    root: Path
    built: list[DeclarativeConnector] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**ENV, **self.running.env}

    def config(
        self,
        *,
        page_size: int = 100,
        env: dict[str, str] | None = None,
        mapping: str = MAPPING,
    ) -> DeploymentConfig:
        """The documented spec with `page_size` contacts a page, this system alone."""
        spec = documented_spec("DYNAMICS").replace(
            "odata.maxpagesize=500", f"odata.maxpagesize={page_size}"
        )
        spec += "limits: {requests_per_second: 10000, timeout_seconds: 5}\n"
        root = write_config(
            self.root / f"cfg{len(self.built)}",
            {**ALONE, "connectors/dynamics.yaml": spec, "mappings/dynamics.yaml": mapping},
        )
        return load_config(root, env={**self.env, **(env or {})})

    def connector(self, **options: Any) -> DeclarativeConnector:
        config = self.config(**options)
        made = build_connector(
            config.connectors["dynamics"], config.mappings["dynamics"], retry=FAST_RETRY
        )
        assert isinstance(made, DeclarativeConnector)
        self.built.append(made)
        return made

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """What happens in Dynamics: a rep edits, a person opts out, a contact is deleted."""
        response = self.control.post("/_sandbox/act", json={"action": action, **body})
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def contact(self, contact_id: str) -> dict[str, Any]:
        response = self.control.get("/_sandbox/contacts", params={"id": contact_id})
        response.raise_for_status()
        found: dict[str, Any] = response.json()[0]
        return found

    def faults(self, *rules: dict[str, Any], **settings: Any) -> None:
        response = self.control.put("/_sandbox/faults", json={"rules": list(rules), **settings})
        response.raise_for_status()

    def requests(self, endpoint: str, status: int | None = None) -> int:
        counts = self.control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
        return sum(n for s, n in counts.items() if status is None or int(s) == status)

    def reset_stats(self) -> None:
        self.control.delete("/_sandbox/stats").raise_for_status()


@pytest.fixture(scope="module")
def dataverse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    """The module's Dataverse emulator, seeded with `CONTACTS_SEEDED` contacts."""
    state = tmp_path_factory.mktemp("dynamics")
    running = start_sandbox(state, contacts=CONTACTS_SEEDED, seed=3, only=("dynamics",))
    trust = ssl.create_default_context(cafile=str(running.tls.ca_pem))
    control = httpx.Client(base_url=running.base_url("dynamics"), verify=trust, timeout=30)
    box = Environment(running, control, tmp_path_factory.mktemp("configs"))
    yield box
    for connector in box.built:
        connector.close()
    control.close()
    running.stop()


@pytest.fixture(autouse=True)
def _no_leftover_dataverse_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and organisation settings never leak from one test into the next."""
    yield
    if "dataverse" in request.fixturenames:
        box: Environment = request.getfixturevalue("dataverse")
        box.control.delete("/_sandbox/faults").raise_for_status()
        box.control.put("/_sandbox/org", json={"expire_change_tracking_in_days": 7})
