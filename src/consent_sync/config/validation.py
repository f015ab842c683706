"""Pydantic plumbing shared by every file schema: strict models, validation context, and turning
validation errors into `file:line: message` issues."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationError
from pydantic import ValidationInfo as _Info
from pydantic_core import ErrorDetails, PydanticCustomError

from consent_sync.config.env import (
    MissingVariableError,
    has_malformed_reference,
    is_reference,
    referenced_variables,
    substitute,
)
from consent_sync.config.errors import ConfigIssue
from consent_sync.config.yaml_source import YamlDocument, show_key

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """A configuration block: no unknown keys, no type coercion (`"yes"` is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class Context:
    """What validating one file may know about the others.

    `env` is None when references are left unresolved (offline validation). `systems` maps each
    connected system to its connector type ("" when its file is invalid); `purposes` is None when
    purposes.yaml could not be read, which turns purpose checks off rather than flagging everything.
    """

    env: Mapping[str, str] | None = None
    systems: Mapping[str, str] = field(default_factory=dict)
    purposes: frozenset[str] | None = None


def context_of(info: _Info) -> Context:
    context = info.context
    if not isinstance(context, Context):
        raise TypeError("configuration models are validated through consent_sync.config")
    return context


def _resolve(value: object, info: _Info) -> object:
    if not isinstance(value, str):
        return value
    if has_malformed_reference(value):
        raise PydanticCustomError(
            "malformed_reference",
            "has a malformed reference; write ${NAME} (letters, digits, _)",
        )
    env = context_of(info).env
    if env is None:
        return value
    try:
        return substitute(value, env)
    except MissingVariableError as exc:
        raise PydanticCustomError(
            "missing_variable",
            f"refers to environment variable {exc.variable}, which is not set",
        ) from None


def _secret(value: object, info: _Info) -> object:
    if isinstance(value, str) and not is_reference(value):
        raise PydanticCustomError(
            "literal_secret", "must be an ${ENV_VAR} reference, not a literal"
        )
    return _resolve(value, info)


#: Query parameters that carry credentials (`?access_token=`, HubSpot's old `?hapikey=`).
_CREDENTIAL_PARAMETER = re.compile(r"pass|secret|token|key|auth|sig", re.IGNORECASE)


def _check_url(url: str, source: str) -> None:
    """Refuse `url` if it does not parse or holds a credential (`user:password@`, `?token=`);
    the message names what is wrong and `source` (" (from VAR)"), never the value."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise PydanticCustomError("bad_url", f"is not a valid URL{source}") from None
    found = "a user name or password (user:password@host)" if "@" in parts.netloc else None
    for name, _ in query:
        if found is None and _CREDENTIAL_PARAMETER.search(name):
            found = f"a credential in its query ({name}=)"
    if found is not None:
        raise PydanticCustomError(
            "credential_in_url",
            f"must not contain {found}{source}; credentials go in their own settings "
            "(client_secret, password, access_token) as ${ENV_VAR} references",
        )


def _url(value: object, info: _Info) -> object:
    # Like a literal secret, a credential written into a URL would sit in the file and in every
    # message that shows the URL; no setting takes one, so it is refused from a variable too.
    if not isinstance(value, str):
        return value
    _check_url(value, "")
    resolved = _resolve(value, info)
    if isinstance(resolved, str) and resolved != value:
        _check_url(resolved, f" (from {', '.join(referenced_variables(value))})")
    return resolved


#: A string setting that may contain `${NAME}` references, resolved from the environment.
EnvText = Annotated[str, BeforeValidator(_resolve)]
#: A URL setting: `EnvText` that holds no credential, as written or once resolved.
EnvUrl = Annotated[str, BeforeValidator(_url)]
#: A secret: must be exactly one `${NAME}` reference; held as `SecretStr` once resolved.
Secret = Annotated[SecretStr, BeforeValidator(_secret)]


def validate(
    model: type[ModelT], doc: YamlDocument, data: Any, context: Context
) -> tuple[ModelT | None, list[ConfigIssue]]:
    """Validate `data` (read from `doc`) into `model`, or return every error with its line."""
    try:
        return model.model_validate(data, context=context), []
    except ValidationError as exc:
        return None, [_issue(doc, error) for error in exc.errors(include_input=False)]


_PHRASES: Mapping[str, str] = {
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}


def _issue(doc: YamlDocument, error: ErrorDetails) -> ConfigIssue:
    loc = list(error["loc"])
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    path, line = doc.index.resolve(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigIssue(doc.path, line, f"unknown key {show_key(path[-1] if path else loc[-1])}")
    if kind == "missing":
        return ConfigIssue(doc.path, line, f"missing required key {show_key(loc[-1])}")
    written = list(path) if len(path) == len(loc) else loc
    in_list = isinstance(_value_at(doc.data, tuple(written[:-1])), list) if written else False
    subject = _subject(written, is_key, in_list)
    found = _value_at(doc.data, path) if len(path) == len(loc) and not is_key else _MISSING
    return ConfigIssue(doc.path, line, f"{subject} {_predicate(error, found)}")


def _subject(loc: list[Any], is_key: bool, in_list: bool) -> str:
    """How a message names what it is about: `policy`, `values[true]`, `grant_sources`."""
    if not loc:
        return "the file"
    last = loc[-1]
    if is_key:
        return f"key {show_key(last)}"
    if isinstance(last, str):
        return last
    parent = next((step for step in reversed(loc[:-1]) if isinstance(step, str)), "item")
    return parent if in_list else f"{parent}[{show_key(last)}]"


def _predicate(error: ErrorDetails, found: object) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _PHRASES:
        return (
            f"{_PHRASES[kind]}, not {_describe(found)}" if found is not _MISSING else _PHRASES[kind]
        )
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        got = f", not {show_key(found)}" if isinstance(found, str | bool | int | float) else ""
        return f"must be one of {expected}{got}"
    bounds = {
        "greater_than": "must be greater than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
        "too_short": "must not be empty",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return error["msg"]


_MISSING = object()


def _value_at(data: Any, path: tuple[Any, ...]) -> object:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _describe(value: object) -> str:
    names = {
        type(None): "null",
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    return names.get(type(value), type(value).__name__)
