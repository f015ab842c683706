"""The root of every error consent-sync raises on purpose, and a map of the whole hierarchy.

`except ConsentSyncError` catches every failure the product means to report: the daemon logs
those in one line (the message says what and where), while anything else reaching a job or
thread boundary is a bug and is logged with its traceback (`consent_sync.logs.bug_traceback`).
A database that is away (SQLAlchemy's errors) is the one expected failure outside this tree.
Each subclass lives next to the code that raises it; what it tells an operator:

    ConsentSyncError
    ├── ConfigError                   config/errors.py: the configuration directory is invalid;
    │                                 every `file:line: message` found, fix the YAML (exit 2)
    ├── YamlLimitError                config/yaml_limits.py: a YAML file past a budget (size,
    │                                 values once aliases are expanded, depth); becomes a
    │                                 `file:line` ConfigError
    ├── MissingVariableError          config/env.py (also a LookupError): a `${VAR}` a setting
    │                                 references is not set in the environment
    ├── IdentityError                 domain/identity.py (also a ValueError): an email or phone
    │                                 that identifies nobody; the record counts as unmatched
    ├── StoreError                    store/errors.py: the canonical store refused a request
    │   ├── UnsupportedDatabaseError  the database URL is neither SQLite nor PostgreSQL
    │   ├── SchemaOutdatedError       store/schema.py: run `consent-sync db upgrade`
    │   ├── UnknownPurposeError       a purpose missing from mappings/purposes.yaml
    │   ├── UnlinkedObservationError  ingestion got an observation with no record behind it
    │   ├── SubjectNotFoundError      no subject has this email
    │   ├── ConflictNotFoundError     no conflict has this id
    │   ├── ConflictNotResolvableError  already resolved, or nothing to decide for
    │   ├── OutboxItemNotFoundError   the write was made, coalesced away or its link ended
    │   ├── SyncRunNotFoundError      no sync run has this id
    │   ├── LedgerAnchorError         store/ledger.py: a malformed SEQ:HASH anchor, signature
    │   │                             or Ed25519 key (named by its variable, never shown)
    │   ├── DecisionRefusedError      a manual decision the rule refuses; nothing was recorded
    │   ├── TokenNameError            store/tokens.py (also a ValueError): an API token name
    │   │                             that is not 1-64 letters, digits, `_`, `.` or `-`
    │   ├── TokenExistsError          a live API token already has this name: revoke it first
    │   ├── TokenNotFoundError        no live API token has this name
    │   └── IdempotencyKeyReusedError an `Idempotency-Key` sent again with another body (422)
    ├── NaiveTimestampError           store/types.py (also a ValueError): a timestamp without a
    │                                 timezone reached the store; the caller must say which zone
    ├── ConnectorError                connectors/protocol.py: a CRM call failed; carries the
    │   │                             system, object, record, field, HTTP status and CRM code
    │   ├── TransientError            worth retrying (timeouts, 429, 5xx, row locks): retried,
    │   │                             then the write waits in the outbox with backoff
    │   ├── PermanentError            retrying will not help: the write is dead-lettered with a
    │   │   │                         `push_rejected` conflict for a human
    │   │   ├── AuthError             the CRM refused the credentials: check the secrets
    │   │   ├── RecordGone            connectors/declarative/transport.py: the record a
    │   │   │                         declarative write or read addressed no longer exists
    │   │   ├── NotRepresentable      …/transport.py: the system cannot take the value (a
    │   │   │                         re-subscribe Mailchimp refuses): grant_not_representable
    │   │   └── ResumeExpired         …/transport.py: a change-tracking link expired; the
    │   │                             object is read again in full
    │   └── QuotaExhausted            the CRM's daily quota is spent: work waits for a later run
    ├── PathError                     config/declarative_paths.py (also a ValueError): a
    │                                 declarative spec's record path that does not parse
    ├── TemplateProblem               config/declarative_templates.py (also a ValueError): a
    │                                 spec's template that does not compile or render
    ├── MalformedBatch                connectors/declarative/odata.py (also a ValueError): a
    │                                 `$batch` answer that is not multipart HTTP responses
    ├── MalformedWebhook              daemon/http/webhooks.py (also a ValueError): a correctly
    │                                 signed body that is not HubSpot events; answered 400
    ├── BodyTimeout                   daemon/http/edge.py: a request body that did not arrive
    │                                 in time; answered 408
    ├── ApiError                      api/errors.py: a refusal /api/v1 answers as JSON with its
    │                                 HTTP status and a stable `code`
    ├── CsrfRefused                   console/web.py: a console form post without the
    │                                 session's CSRF token; answered 403
    └── NotSignedIn                   console/web.py: a console request with no live session;
                                      redirected to the sign-in page

Not errors: `ShutdownRequested` (daemon/scheduler.py) is control flow. The scheduler raises it
between committed pages to unwind a unit of work when the daemon stops; it never leaves the
scheduler, so it does not derive from `ConsentSyncError`.

Built-in exceptions the product raises (`RuntimeError`, `ValueError`, `KeyError`, `TypeError`)
mark a broken internal invariant, i.e. a bug, and stay outside this tree on purpose.
"""

from __future__ import annotations

__all__ = ["ConsentSyncError"]


class ConsentSyncError(Exception):
    """A failure consent-sync raises on purpose; its message says what and where."""
