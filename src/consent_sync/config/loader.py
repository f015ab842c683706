"""Reading a configuration directory: every file parsed, validated and cross-checked, every error
collected before any is raised."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from consent_sync.config.env import referenced_variables
from consent_sync.config.errors import ConfigError, ConfigIssue, sorted_issues
from consent_sync.config.purposes import PurposesFile, check_purposes
from consent_sync.config.validation import Context, validate
from consent_sync.config.yaml_source import Loc, YamlDocument, load_yaml
from consent_sync.domain.model import Purpose

if TYPE_CHECKING:
    from consent_sync.config.connector_settings import ConnectorConfig
    from consent_sync.config.mappings import SystemMapping

# The connector and mapping models are imported where a whole configuration is loaded, not here:
# `load_purposes` (the store commands: `ledger verify`, `subject show`) needs only purposes.yaml,
# and building the other models is most of this package's import time.

#: The environment variable naming the configuration directory when `--config` is not given.
CONFIG_ENV = "CONSENT_SYNC_CONFIG"
CONNECTORS_DIR = "connectors"
MAPPINGS_DIR = "mappings"
PURPOSES_FILE = "purposes.yaml"

ModelT = TypeVar("ModelT", bound=BaseModel)

#: A system is named by its files (connectors/<name>.yaml, mappings/<name>.yaml), and the name
#: goes on into URLs, metrics labels and the store: a short lowercase identifier.
SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class DeploymentConfig:
    """A validated configuration directory: purposes, connected systems and their mappings."""

    config_dir: Path
    purposes: dict[str, Purpose]
    connectors: dict[str, ConnectorConfig]
    mappings: dict[str, SystemMapping]
    warnings: tuple[ConfigIssue, ...] = ()

    @property
    def mapped_field_count(self) -> int:
        """How many CRM fields (and subscriptions) map to a purpose, over all systems."""
        return sum(
            len(obj.fields)
            for mapping in self.mappings.values()
            for obj in mapping.objects.values()
        )


def default_config_dir(option: Path | None = None) -> Path:
    """`--config` if given, else `$CONSENT_SYNC_CONFIG`, else the current directory."""
    if option is not None:
        return option
    return Path(os.environ.get(CONFIG_ENV) or ".")


def load_config(
    config_dir: Path,
    *,
    resolve_env: bool = True,
    env: Mapping[str, str] | None = None,
    systems: Collection[str] | None = None,
) -> DeploymentConfig:
    """Load and validate a configuration directory; raise `ConfigError` with every error found.

    With `resolve_env` (to run), `${VAR}` references are replaced from `env` (default: the process
    environment) and an unset variable is an error. Without it (offline validation) references are
    kept as written and unset variables are only warnings. `systems` (default: all) names the
    connectors to run: any other is loaded as if it said `enabled: false`, so its secrets need
    not be set (the demo runs on some of the configured systems).
    """
    loader = _Loader(
        Path(config_dir),
        dict(os.environ if env is None else env),
        resolve_env,
        systems=None if systems is None else frozenset(systems),
    )
    return loader.load()


#: How soon a denial must be written to a system unless its connector says otherwise.
DEFAULT_REVOCATION_SLA_S = 900.0


def revocation_slas(config_dir: Path) -> dict[str, float] | None:
    """Each enabled system's `limits.revocation_sla_seconds`, read from connectors/*.yaml alone.

    What `status` needs, without building every connector and mapping model (most of its
    start-up otherwise: docs/performance.md). None when a connector file cannot be read this
    way (a syntax error, a bad name, an SLA that is not a positive number): the caller then loads
    the whole configuration, whose errors say what is wrong and where.
    """
    loader = _Loader(Path(config_dir), {}, resolve_env=False)
    paths = loader.yaml_files(CONNECTORS_DIR)
    if loader.errors or not paths:
        return None
    slas: dict[str, float] = {}
    for path in paths:
        doc = loader.parse(path)
        data = doc.data if doc is not None else None
        if loader.errors or not isinstance(data, dict):
            return None
        if data.get("enabled", True) is False:
            continue
        limits = data.get("limits") or {}
        sla = limits.get("revocation_sla_seconds") if isinstance(limits, dict) else None
        if sla is None and not isinstance(limits, dict):
            return None
        if sla is None:
            sla = DEFAULT_REVOCATION_SLA_S
        if isinstance(sla, bool) or not isinstance(sla, int | float) or not sla > 0:
            return None
        slas[path.stem] = float(sla)
    return slas


def load_purposes(config_dir: Path) -> dict[str, Purpose]:
    """The purposes of a configuration directory; `ConfigError` if purposes.yaml is invalid."""
    loader = _Loader(Path(config_dir), {}, resolve_env=False)
    systems = {path.stem: "" for path in loader.yaml_files(CONNECTORS_DIR, required=False)}
    purposes = loader.purposes(Context(systems=systems))
    if loader.errors or purposes is None:
        raise ConfigError(loader.errors)
    return purposes


@dataclass
class _Loader:
    config_dir: Path
    env: dict[str, str]
    resolve_env: bool
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    purposes_doc: YamlDocument | None = None
    systems: frozenset[str] | None = None  # the connectors to run; None: every enabled one

    def load(self) -> DeploymentConfig:
        from consent_sync.config.mapping_checks import check_mapping, mapping_warnings
        from consent_sync.config.mappings import SystemMapping

        if not self.config_dir.is_dir():
            raise ConfigError([ConfigIssue(self.config_dir, None, "config directory not found")])
        connector_docs = {path.stem: self.parse(path) for path in self.yaml_files(CONNECTORS_DIR)}
        mapping_docs = {
            path.stem: self.parse(path)
            for path in self.yaml_files(MAPPINGS_DIR)
            if path.name != PURPOSES_FILE
        }
        if not connector_docs and (self.config_dir / CONNECTORS_DIR).is_dir():
            self.error(self.config_dir / CONNECTORS_DIR, "no connectors configured")
        types = {name: _declared_type(doc) for name, doc in connector_docs.items()}
        purposes = self.purposes(Context(systems=types))
        names = frozenset(purposes) if purposes is not None else self.raw_purpose_names()
        connectors = {
            name: connector
            for name, doc in connector_docs.items()
            if doc is not None and (connector := self.connector(name, doc)) is not None
        }
        mappings: dict[str, SystemMapping] = {}
        for system, doc in mapping_docs.items():
            context = Context(systems=types, purposes=names)
            mapping = self.model(SystemMapping, doc, context) if doc is not None else None
            if mapping is not None and doc is not None:
                self.errors += check_mapping(doc, mapping, system, types.get(system))
                self.errors += _declarative_issues(doc, mapping, connectors.get(system))
                self.warnings += mapping_warnings(doc, mapping)
                mappings[system] = mapping
        for name in connector_docs.keys() - mapping_docs.keys():
            self.warnings.append(
                ConfigIssue(
                    self.config_dir / CONNECTORS_DIR / f"{name}.yaml",
                    None,
                    f"system {name!r} has no mapping (mappings/{name}.yaml); nothing will sync",
                )
            )
        if self.errors or purposes is None:
            raise ConfigError(self.errors, self.warnings)
        return DeploymentConfig(
            self.config_dir, purposes, connectors, mappings, tuple(sorted_issues(self.warnings))
        )

    def yaml_files(self, subdir: str, *, required: bool = True) -> list[Path]:
        directory = self.config_dir / subdir
        if not directory.is_dir():
            if required:
                self.error(directory, "directory not found")
            return []
        for stray in sorted(directory.glob("*.yml")):
            self.warnings.append(ConfigIssue(stray, None, "ignored: configuration files end .yaml"))
        usable = []
        for path in sorted(path for path in directory.glob("*.yaml") if path.is_file()):
            if (problem := system_name_problem(path.stem)) is None:
                usable.append(path)
            else:
                self.error(path, f"{path.stem!r} is not a usable system name: {problem}")
        return usable

    def parse(self, path: Path) -> YamlDocument | None:
        doc, issues = load_yaml(path)
        self.errors += issues
        if doc is not None and doc.data is None:
            self.error(path, "file is empty", line=1)
            return None
        return doc

    def purposes(self, context: Context) -> dict[str, Purpose] | None:
        path = self.config_dir / MAPPINGS_DIR / PURPOSES_FILE
        if not path.is_file():
            self.error(path, "file not found; every deployment defines its consent purposes here")
            return None
        doc = self.parse(path)
        self.purposes_doc = doc
        spec = self.model(PurposesFile, doc, context) if doc is not None else None
        if spec is None or doc is None:
            return None
        self.errors += check_purposes(doc, spec)
        return {name: purpose.to_purpose(name) for name, purpose in spec.purposes.items()}

    def raw_purpose_names(self) -> frozenset[str] | None:
        # purposes.yaml is invalid but may still name its purposes: keep checking mappings by them.
        data = self.purposes_doc.data if self.purposes_doc is not None else None
        purposes = data.get("purposes") if isinstance(data, dict) else None
        if not isinstance(purposes, dict):
            return None
        return frozenset(name for name in purposes if isinstance(name, str))

    def connector(self, name: str, doc: YamlDocument) -> ConnectorConfig | None:
        from consent_sync.config.connector_settings import CONNECTOR_MODELS, check_connector
        from consent_sync.config.file_checks import ca_file_issues

        data = doc.data
        if not isinstance(data, dict):
            self.errors.append(doc.issue((), "the file must be a mapping of connector settings"))
            return None
        if "name" in data:
            self.errors.append(
                doc.issue(("name",), f"unknown key 'name' (the system name is the file's: {name})")
            )
            return None
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in CONNECTOR_MODELS:
            expected = ", ".join(CONNECTOR_MODELS)
            message = (
                f"missing required key 'type' ({expected})"
                if kind is None
                else f"type must be one of {expected}, not {kind!r}"
            )
            self.errors.append(doc.issue(("type",) if "type" in data else (), message))
            return None
        enabled = data.get("enabled", True) is not False
        if enabled and self.systems is not None and name not in self.systems:
            data, enabled = {**data, "enabled": False}, False
        resolve = self.resolve_env and enabled
        if not resolve:
            self.warn_unset_variables(doc)
        context = Context(env=self.env if resolve else None)
        connector = self.model(CONNECTOR_MODELS[kind], doc, context, {**data, "name": name})
        if connector is not None:
            self.errors += check_connector(doc, connector)
            if enabled:
                self.errors += ca_file_issues(doc, self.env)
        return connector

    def model(
        self, model: type[ModelT], doc: YamlDocument, context: Context, data: Any = None
    ) -> ModelT | None:
        value, issues = validate(model, doc, doc.data if data is None else data, context)
        self.errors += issues
        return value

    def warn_unset_variables(self, doc: YamlDocument) -> None:
        for loc, text in _strings(doc.data, ()):
            for variable in referenced_variables(text):
                if variable not in self.env:
                    self.warnings.append(
                        doc.issue(loc, f"environment variable {variable} is not set (run needs it)")
                    )

    def error(self, path: Path, message: str, line: int | None = None) -> None:
        self.errors.append(ConfigIssue(path, line, message))


def system_name_problem(name: str) -> str | None:
    """Why `name` cannot name a system (None: it can)."""
    if SYSTEM_NAME.fullmatch(name):
        return None
    if not name[:1].isascii() or not name[:1].islower():
        return "it must start with a lowercase letter (a-z); rename the file"
    if len(name) > 63:
        return "it must be at most 63 characters long; rename the file"
    return "it may only hold lowercase letters, digits, '_' and '-'; rename the file"


def _declarative_issues(
    doc: YamlDocument, mapping: SystemMapping, connector: ConnectorConfig | None
) -> list[ConfigIssue]:
    """What a mapping asks of a declarative connector's streams that they lack."""
    from consent_sync.config.connector_settings import DeclarativeConnector
    from consent_sync.config.declarative_checks import check_declarative_mapping

    if not isinstance(connector, DeclarativeConnector):
        return []
    return check_declarative_mapping(doc, mapping, connector.streams)


def _declared_type(doc: YamlDocument | None) -> str:
    from consent_sync.config.connector_settings import CONNECTOR_MODELS

    data = doc.data if doc is not None else None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind in CONNECTOR_MODELS else ""


def _strings(data: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(data, str):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(data, list):
        for position, value in enumerate(data):
            yield from _strings(value, (*loc, position))
