"""Every exception consent-sync defines is a ConsentSyncError, and the hierarchy is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import consent_sync
import consent_sync.errors
from consent_sync.errors import ConsentSyncError

#: Alembic loads the migration scripts itself; importing them outside a migration fails.
NOT_IMPORTABLE = ("consent_sync.store.migrations",)
#: Exceptions that are control flow, not errors (each named in consent_sync.errors' docstring).
CONTROL_FLOW = {"consent_sync.daemon.scheduler.ShutdownRequested"}


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of consent_sync, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(consent_sync.__path__, "consent_sync."):
        if module_info.name.startswith(NOT_IMPORTABLE):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_exception_derives_from_the_root() -> None:
    """Each exception class of the product is a ConsentSyncError, unless it is control flow."""
    strays = sorted(
        name
        for name, cls in defined_exceptions().items()
        if not issubclass(cls, ConsentSyncError) and name not in CONTROL_FLOW
    )
    assert strays == []


def test_the_walk_finds_the_errors_of_every_layer() -> None:
    """The module walk reaches config, domain, store, connectors and the daemon."""
    names = set(defined_exceptions())
    assert {
        "consent_sync.config.errors.ConfigError",
        "consent_sync.domain.identity.IdentityError",
        "consent_sync.store.schema.SchemaOutdatedError",
        "consent_sync.connectors.protocol.QuotaExhausted",
        "consent_sync.daemon.http.webhooks.MalformedWebhook",
        *CONTROL_FLOW,
    } <= names


def test_every_error_and_control_flow_exception_is_in_the_documented_hierarchy() -> None:
    """consent_sync.errors' docstring names each error class and each control-flow exception."""
    documented = set(re.findall(r"\b[A-Z]\w+\b", consent_sync.errors.__doc__ or ""))
    missing = sorted(
        name
        for name, cls in defined_exceptions().items()
        if (issubclass(cls, ConsentSyncError) or name in CONTROL_FLOW)
        and cls.__name__ not in documented
    )
    assert missing == []


def test_errors_keep_the_builtin_bases_callers_catch() -> None:
    """Errors that were ValueError or LookupError before the root existed still are."""
    from consent_sync.config.env import MissingVariableError
    from consent_sync.daemon.http.webhooks import MalformedWebhook
    from consent_sync.domain.identity import IdentityError
    from consent_sync.store.types import NaiveTimestampError

    assert issubclass(MissingVariableError, LookupError)
    for cls in (IdentityError, NaiveTimestampError, MalformedWebhook):
        assert issubclass(cls, ValueError)
