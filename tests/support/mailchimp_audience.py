"""The Mailchimp emulator over HTTPS and the shipped declarative connector pointed at it.

The connector is built from the repository's own configuration (`connectors/mailchimp.yaml`,
`mappings/mailchimp.yaml`; the other systems' variables point nowhere), exactly as the daemon
builds it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.config_files import OFFLINE_ENV
from support.paths import REPO

#: Retries as in production but with waits short enough for tests.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, retry_after_ceiling=0.5)
MEMBERS = "GET /3.0/lists/{list_id}/members"
MEMBER = "GET /3.0/lists/{list_id}/members/{subscriber_hash}"
BATCH = "POST /3.0/lists/{list_id}"


def shipped_config(env: dict[str, str]) -> DeploymentConfig:
    """The repository's configuration, its Mailchimp connector pointed at `env`'s emulator."""
    return load_config(REPO, env={**OFFLINE_ENV, **env})


@dataclass
class Audience:
    """A running Mailchimp emulator, the shipped config for it, and its `/_sandbox` surface."""

    running: RunningSandbox
    config: DeploymentConfig
    control: httpx.Client
    made: list[Connector] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.running.env

    @property
    def list_id(self) -> str:
        return self.env["MAILCHIMP_LIST_ID"]

    def connector(self, *, timeout: float | None = None, retry: RetryPolicy = FAST_RETRY) -> Any:
        """The shipped connector, with fast retries and no client-side budget to speak of."""
        settings = self.config.connectors["mailchimp"]
        limits = settings.limits.model_copy(
            update={
                "requests_per_second": 100_000.0,
                **({"timeout_seconds": timeout} if timeout else {}),
            }
        )
        connector = build_connector(
            settings.model_copy(update={"limits": limits}),
            self.config.mappings["mailchimp"],
            retry=retry,
        )
        self.made.append(connector)
        return connector

    def act(self, action: str, email: str, **body: Any) -> dict[str, Any]:
        """What a person does (unsubscribe, signup, confirm, bounce, preferences, archive)."""
        response = self.control.post(
            "/_sandbox/act", json={"action": action, "email": email, **body}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def member(self, email: str) -> dict[str, Any]:
        """The member as the API shows it."""
        response = self.control.get(f"/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def first(self, **params: Any) -> dict[str, Any]:
        """The first member the listing returns for `params`."""
        page = self.control.get(
            f"/3.0/lists/{self.list_id}/members", params={"count": 1, **params}
        ).json()
        result: dict[str, Any] = page["members"][0]
        return result

    def members(self, **params: Any) -> list[dict[str, Any]]:
        """Every member the listing returns for `params`."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.control.get(
                f"/3.0/lists/{self.list_id}/members",
                params={"count": 1000, "offset": len(found), **params},
            ).json()
            found += page["members"]
            if not page["members"] or len(found) >= page["total_items"]:
                return found

    def faults(self, *rules: dict[str, Any], **config: Any) -> None:
        """Inject fault `rules` (and other fault settings) until cleared."""
        self.control.put("/_sandbox/faults", json={"rules": list(rules), **config})

    def clear_faults(self) -> None:
        self.control.delete("/_sandbox/faults")

    def reset_stats(self) -> None:
        self.control.delete("/_sandbox/stats")

    def requests(self, endpoint: str, status: int | None = None) -> int:
        """Requests to `endpoint` (e.g. BATCH) since the last reset."""
        counts = self.control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
        return sum(n for s, n in counts.items() if status is None or s == str(status))


def start_audience(state_dir: Path, contacts: int, seed: int = 11) -> Audience:
    """Seed and serve the Mailchimp emulator and load the shipped config for it."""
    running = start_sandbox(
        state_dir / "sandbox", contacts=contacts, seed=seed, only=("mailchimp",)
    )
    control = httpx.Client(
        base_url=running.base_url("mailchimp"),
        verify=ssl.create_default_context(cafile=running.env["MAILCHIMP_CA_FILE"]),
        auth=("consent-sync-tests", running.env["MAILCHIMP_API_KEY"]),
        timeout=30,
    )
    return Audience(running, shipped_config(running.env), control)


def stop_audience(audience: Audience) -> None:
    """Close every connector made against the audience, then stop serving."""
    for connector in audience.made:
        connector.close()
    audience.control.close()
    audience.running.stop()
