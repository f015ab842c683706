"""The Dataverse emulator over HTTPS and the shipped declarative connector pointed at it.

The connector is built from the repository's own configuration (`connectors/dynamics.yaml`,
`mappings/dynamics.yaml`; the other systems' variables point nowhere), exactly as the daemon
builds it.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.config_files import OFFLINE_ENV
from support.paths import REPO

#: Retries as in production but with waits short enough for tests.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, retry_after_ceiling=0.5)
CONTACTS_LIST = "GET /api/data/v{version}/contacts"
BATCH = "POST /api/data/v{version}/$batch"
TOKEN = "POST /{tenant}/oauth2/v2.0/token"
ODATA = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


def shipped_config(env: dict[str, str]) -> DeploymentConfig:
    """The repository's configuration, its Dynamics connector pointed at `env`'s emulator."""
    return load_config(REPO, env={**OFFLINE_ENV, **env})


@dataclass
class Org:
    """A running Dataverse emulator, the shipped config for it, and ways to look inside."""

    running: RunningSandbox
    config: DeploymentConfig
    control: httpx.Client
    made: list[Connector] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.running.env

    def connector(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy = FAST_RETRY,
        config: DeploymentConfig | None = None,
    ) -> Any:
        """The shipped connector, with fast retries and no client-side budget to speak of."""
        source = config or self.config
        settings = source.connectors["dynamics"]
        limits = settings.limits.model_copy(
            update={
                "requests_per_second": 100_000.0,
                **({"timeout_seconds": timeout} if timeout else {}),
            }
        )
        connector = build_connector(
            settings.model_copy(update={"limits": limits}),
            source.mappings["dynamics"],
            retry=retry,
        )
        self.made.append(connector)
        return connector

    def api(self) -> httpx.Client:
        """httpx on the Web API with a fresh token, for looking at what the connector did."""
        env = self.env
        token = httpx.post(
            env["DYNAMICS_TOKEN_URL"],
            data={
                "grant_type": "client_credentials",
                "client_id": env["DYNAMICS_CLIENT_ID"],
                "client_secret": env["DYNAMICS_CLIENT_SECRET"],
                "scope": f"{env['DYNAMICS_BASE_URL']}/.default",
            },
            verify=self._trust(),
        ).json()["access_token"]
        return httpx.Client(
            base_url=f"{env['DYNAMICS_BASE_URL']}/api/data/v9.2",
            verify=self._trust(),
            headers={**ODATA, "Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def _trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.env["DYNAMICS_CA_FILE"])

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """What happens in Dynamics (edit, opt_out, create, delete), by `email` or `id`."""
        response = self.control.post("/_sandbox/act", json={"action": action, **body})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def contacts(self, email: str) -> list[dict[str, Any]]:
        """Every contact holding `email` in emailaddress1, every column."""
        response = self.control.get("/_sandbox/contacts", params={"email": email})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def contact(self, contact_id: str) -> dict[str, Any]:
        """One contact by id, every column."""
        response = self.control.get("/_sandbox/contacts", params={"id": contact_id})
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found[0]

    def faults(self, *rules: dict[str, Any], **config: Any) -> None:
        """Inject fault `rules` (and other fault settings) until cleared."""
        self.control.put("/_sandbox/faults", json={"rules": list(rules), **config})

    def clear(self) -> None:
        """No faults, default limits and organisation settings."""
        self.control.delete("/_sandbox/faults")
        self.control.put("/_sandbox/limits", json={})
        self.control.put("/_sandbox/org", json={})

    def reset_stats(self) -> None:
        self.control.delete("/_sandbox/stats")

    def requests(self, endpoint: str, status: int | None = None) -> int:
        """Requests to `endpoint` (e.g. BATCH) since the last reset, once the count is steady
        (the meter counts a request after its answer is sent, a moment after the client has
        it)."""
        seen: int | None = None
        for _ in range(30):
            counts = self.control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
            now = sum(n for s, n in counts.items() if status is None or s == str(status))
            if now == seen:
                return now
            seen = now
            time.sleep(0.02)
        return seen or 0


def start_org(state_dir: Path, contacts: int, seed: int = 13) -> Org:
    """Seed and serve the Dataverse emulator and load the shipped config for it."""
    running = start_sandbox(state_dir / "sandbox", contacts=contacts, seed=seed, only=("dynamics",))
    control = httpx.Client(
        base_url=running.base_url("dynamics"),
        verify=ssl.create_default_context(cafile=running.env["DYNAMICS_CA_FILE"]),
        timeout=30,
    )
    return Org(running, shipped_config(running.env), control)


def stop_org(org: Org) -> None:
    """Close every connector made against the org, then stop serving."""
    for connector in org.made:
        connector.close()
    org.control.close()
    org.running.stop()
