"""The template language of declarative connector specs: Jinja2, sandboxed (docs/connectors.md).

A setting that is exactly one `{{ expression }}` evaluates to the expression's own value (a list
stays a list, `true` a boolean); any other text with `{{ }}` renders as text; everything else is
taken as written. `omit` drops the key or list item it is the value of. Paths (`/lists/{list_id}`)
are not templates: their `{name}` placeholders are filled, percent-encoded, by `fill_path`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from consent_sync.errors import ConsentSyncError

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "OMIT",
    "TemplateProblem",
    "check_template",
    "fill_path",
    "path_placeholders",
    "render_value",
    "template_names",
]

_WHOLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Omit:
    """The value of a key or item a template leaves out (`omit`)."""

    def __repr__(self) -> str:
        return "omit"


OMIT = _Omit()


class TemplateProblem(ConsentSyncError, ValueError):
    """A template that does not compile, or failed while rendering (message without values)."""


def _odata_string(value: object) -> str:
    """An OData string literal: single-quoted, inner quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def _md5(value: object) -> str:
    return hashlib.md5(str(value).encode("utf-8"), usedforsecurity=False).hexdigest()


@cache
def _env() -> ImmutableSandboxedEnvironment:
    # Imported on first use: loading a configuration without declarative systems skips Jinja.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters["odata_string"] = _odata_string
    env.filters["md5"] = _md5
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    env.globals["omit"] = OMIT
    return env


def check_template(text: str) -> str | None:
    """Why `text` does not compile as a template (None: it does, or holds no template)."""
    if "{{" not in text and "{%" not in text:
        return None
    whole = _WHOLE_EXPRESSION.match(text.strip())
    try:
        if whole is not None and "}}" not in whole.group("expr"):
            _env().compile_expression(whole.group("expr"))
        else:
            _env().from_string(text)
    except _template_errors() as exc:
        return f"is not a valid template: {getattr(exc, 'message', None) or type(exc).__name__}"
    return None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """`value` (a setting as written: text, number, mapping, list) with its templates evaluated;
    keys and items whose value is `omit` are left out (`OMIT` if `value` itself is)."""
    if isinstance(value, str):
        return _render_text(value, context)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            rendered = render_value(item, context)
            if rendered is not OMIT:
                out[key] = rendered
        return out
    if isinstance(value, Sequence):
        items = (render_value(item, context) for item in value)
        return [item for item in items if item is not OMIT]
    return value


def _render_text(text: str, context: Mapping[str, Any]) -> Any:
    if "{{" not in text and "{%" not in text:
        return text
    whole = _WHOLE_EXPRESSION.match(text.strip())
    try:
        if whole is not None and "}}" not in whole.group("expr"):
            value = _expression(whole.group("expr"))(**context)
            if isinstance(value, _undefined()):
                value._fail_with_undefined_error()  # a name the context lacks, not a value
            return value
        return _template(text).render(**context)
    except (_template_errors(), TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # The message names what failed (an undefined name, a filter), never a value.
        reason = getattr(exc, "message", None) or type(exc).__name__
        raise TemplateProblem(reason) from None


@lru_cache(maxsize=1024)
def _expression(expr: str) -> Any:
    # Compiled once: a batch renders the same item template for every record it holds.
    return _env().compile_expression(expr, undefined_to_none=False)


@lru_cache(maxsize=1024)
def _template(text: str) -> Any:
    return _env().from_string(text)


def _undefined() -> type[Any]:
    from jinja2 import Undefined

    return Undefined


def _template_errors() -> type[Exception]:
    from jinja2 import TemplateError

    return TemplateError


def template_names(value: Any) -> set[str]:
    """The variables the templates inside `value` refer to."""
    from jinja2 import meta

    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return set()
        try:
            return set(meta.find_undeclared_variables(_env().parse(value)))
        except _template_errors():
            return set()
    if isinstance(value, Mapping):
        return set().union(*(template_names(v) for v in value.values()))
    if isinstance(value, Sequence):
        return set().union(*(template_names(v) for v in value))
    return set()


def path_placeholders(path: str) -> list[str]:
    """The `{name}` placeholders of a path, in order."""
    return _PLACEHOLDER.findall(path)


def fill_path(path: str, values: Mapping[str, object]) -> str:
    """`path` with each `{name}` replaced by its value, percent-encoded as one path segment."""

    def value(match: re.Match[str]) -> str:
        return quote(str(values[match.group(1)]), safe="")

    return _PLACEHOLDER.sub(value, path)
