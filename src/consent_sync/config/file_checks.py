"""Files that settings point at, checked when the configuration is read rather than at the first
TLS handshake: `auth.ca_file` must be a readable PEM file holding at least one certificate.

The path is checked as the connector would open it (relative to the working directory). A
`${VAR}` reference is followed when the variable is set, offline validation included; an unset
one is already a warning (offline) or an error (run).
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import Mapping
from pathlib import Path

from consent_sync.config.env import MissingVariableError, referenced_variables, substitute
from consent_sync.config.errors import ConfigIssue
from consent_sync.config.yaml_limits import MAX_FILE_BYTES
from consent_sync.config.yaml_source import YamlDocument

#: Where a connector names its CA file: `auth` (Salesforce, HubSpot), `requester` (declarative).
_CA_BLOCKS = ("auth", "requester")


def ca_file_issues(doc: YamlDocument, env: Mapping[str, str]) -> list[ConfigIssue]:
    """An issue at the line of `auth.ca_file` (or a declarative spec's `requester.ca_file`) if it
    names a file that is not a CA bundle."""
    issues: list[ConfigIssue] = []
    for block in _CA_BLOCKS:
        settings = doc.data.get(block) if isinstance(doc.data, dict) else None
        written = settings.get("ca_file") if isinstance(settings, dict) else None
        if isinstance(written, str):
            issues += _ca_file_issue(doc, (block, "ca_file"), written, env)
    return issues


def _ca_file_issue(
    doc: YamlDocument, at: tuple[str, str], written: str, env: Mapping[str, str]
) -> list[ConfigIssue]:
    try:
        path = substitute(written, env)
    except MissingVariableError:
        return []
    if not path:  # set but empty: the system's CAs
        return []
    problem = ca_file_problem(Path(path))
    if problem is None:
        return []
    variables = ", ".join(referenced_variables(written))
    source = f" (from {variables})" if variables else ""
    return [doc.issue(at, f"ca_file {path}{source} {problem}")]


def ca_file_problem(path: Path) -> str | None:
    """Why `path` is not a CA bundle TLS can use (None: it is one). Never quotes the file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not a PEM file of CA certificates"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size > MAX_FILE_BYTES:
        return f"is larger than {MAX_FILE_BYTES:,} bytes; not a CA bundle"
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(path))
    except (ssl.SSLError, ValueError):
        return "is not a PEM file holding a certificate"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not context.cert_store_stats().get("x509"):
        return "holds no certificate (only revocation lists)"
    return None
