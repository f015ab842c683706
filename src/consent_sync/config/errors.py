"""What a configuration problem is: a file, a line, a message; and the error carrying them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from consent_sync.errors import ConsentSyncError


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one configuration file, at a 1-based line (None: the file as a whole).

    Messages never contain secret values, only the names of the settings and variables involved.
    """

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, str]:
        return (str(self.path), self.line or 0, self.message)


def sorted_issues(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """Issues without repeats, ordered by file and line, the way an editor walks them."""
    return sorted(set(issues), key=ConfigIssue.sort_key)


class ConfigError(ConsentSyncError):
    """The configuration directory is invalid; `errors` holds every error found, not the first."""

    def __init__(self, errors: Iterable[ConfigIssue], warnings: Iterable[ConfigIssue] = ()) -> None:
        self.errors: list[ConfigIssue] = sorted_issues(errors)
        self.warnings: list[ConfigIssue] = sorted_issues(warnings)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.errors)
