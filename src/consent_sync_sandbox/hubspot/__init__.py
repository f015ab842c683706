"""A local HubSpot API emulator (CRM contacts v3, Communication Preferences v3/v4, webhooks).

`build_hubspot(...)` returns an `Emulator`; serve its `app` with `ServerThread` over TLS and point
hubspot-api-client at it with `HubSpot(access_token=..., host=base_url, ssl_ca_cert=ca_file)`.
"""

from consent_sync_sandbox.hubspot.app import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_CLIENT_SECRET,
    build_hubspot,
)

__all__ = ["DEFAULT_ACCESS_TOKEN", "DEFAULT_CLIENT_SECRET", "build_hubspot"]
