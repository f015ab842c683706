"""`${ENV_VAR}` references: how settings name environment variables instead of holding values."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from consent_sync.errors import ConsentSyncError

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariableError(ConsentSyncError, LookupError):
    """A referenced environment variable is not set."""

    def __init__(self, variable: str) -> None:
        super().__init__(variable)
        self.variable = variable


def is_reference(text: str) -> bool:
    """Whether `text` is exactly one `${NAME}` reference and nothing else."""
    return _REFERENCE.fullmatch(text) is not None


def has_malformed_reference(text: str) -> bool:
    """Whether `text` contains a `${` that does not open a well-formed `${NAME}` reference."""
    return "${" in _REFERENCE.sub("", text)


def referenced_variables(text: str) -> Iterator[str]:
    """The variable names `text` refers to, in order."""
    for match in _REFERENCE.finditer(text):
        yield match.group(1)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """`text` with every `${NAME}` replaced by its value; raises `MissingVariableError` if unset."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingVariableError(name)
        return env[name]

    return _REFERENCE.sub(value, text)
