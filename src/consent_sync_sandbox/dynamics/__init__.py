"""A local Dataverse Web API emulator: Dynamics 365 contacts, change tracking, $batch, tokens.

`build_dynamics(...)` returns an `Emulator`; serve its `app` with `ServerThread` over TLS, get a
token from `DYNAMICS_TOKEN_URL` (client credentials, scope `<DYNAMICS_BASE_URL>/.default`) and
call `<DYNAMICS_BASE_URL>/api/data/v9.2/...` with it.
"""

from consent_sync_sandbox.dynamics.app import build_dynamics, token_path
from consent_sync_sandbox.dynamics.auth import Credentials

__all__ = ["Credentials", "build_dynamics", "token_path"]
