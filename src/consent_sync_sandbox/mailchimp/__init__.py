"""A local Mailchimp Marketing API 3.0 emulator: one audience, its members, batch subscribe.

`build_mailchimp(...)` returns an `Emulator`; serve its `app` with `ServerThread` over TLS and
point the official client at it unmodified (docs/sandboxes.md, "Mailchimp"):
`client = MailchimpMarketing.Client(); client.set_config({"api_key": key, "server": "us21"});
client.api_client.host = base_url + "/3.0"`, trusting the sandbox CA with `REQUESTS_CA_BUNDLE`.
"""

from consent_sync_sandbox.mailchimp.app import DEFAULT_API_KEY, build_mailchimp
from consent_sync_sandbox.mailchimp.audience import DEFAULT_LIST_ID

__all__ = ["DEFAULT_API_KEY", "DEFAULT_LIST_ID", "build_mailchimp"]
