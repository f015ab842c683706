"""`$filter` for contacts: OData comparison, logical and grouping operators, the string
functions and Dataverse's `In`/`NotIn`, compiled to a SQL condition with bound parameters.

String comparisons are case-insensitive, as Dataverse's are. Literals are typed as OData
types them: a datetime (`2026-05-01T00:00:00Z`) and a GUID are unquoted, strings are quoted
with `'` (`''` inside). Anything else is a 400 in Dataverse's error shape.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent_sync_sandbox.dynamics.errors import DataverseError, bad_request
from consent_sync_sandbox.dynamics.schema import ATTRIBUTE_BY_NAME, Attribute

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<dstring>"(?:[^"\\]|\\.)*")
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
    | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_@][A-Za-z0-9_.@]*)
    | (?P<punct>[(),\[\]=])
    )""",
    re.VERBOSE,
)
_COMPARISONS = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_EDM = {
    "Uniqueidentifier": "Edm.Guid",
    "String": "Edm.String",
    "Memo": "Edm.String",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "BigInt": "Edm.Int64",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
}
_STRING_TYPES = ("String", "Memo")


def fold(text: str) -> str:
    """How Dataverse compares strings: case-insensitively (and NFC, so composed forms match)."""
    return unicodedata.normalize("NFC", text).casefold()


def column_sql(attribute: Attribute) -> str:
    """The SQL expression that holds this attribute, comparable with a folded parameter."""
    if attribute.logical_name == "emailaddress1":
        return "email_key"
    if attribute.type in _STRING_TYPES:
        return f"fold({attribute.logical_name})"
    return attribute.logical_name


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int


@dataclass(frozen=True, slots=True)
class _Literal:
    edm: str  # Edm.String, Edm.Guid, Edm.DateTimeOffset, Edm.Boolean, Edm.Int64, Edm.Null
    value: Any


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled filter: SQL text over the contacts table and its bound parameters."""

    sql: str
    params: tuple[Any, ...]


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            raise bad_request(f"Syntax error at position {at} in '{text}'.")
        found.append(
            _Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup))
        )
        at = match.end()
    return found


class _Parser:
    def __init__(self, text: str, aliases: Mapping[str, str]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.aliases = aliases

    # -- token helpers ---------------------------------------------------------------------

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise bad_request(f"Syntax error: unexpected end of '{self.text}'.")
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise bad_request(f"Syntax error at position {token.at} in '{self.text}'.")

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text in words:
            self.at += 1
            return token.text
        return None

    # -- grammar ---------------------------------------------------------------------------

    def parse(self) -> Condition:
        condition = self.disjunction()
        if self.peek() is not None:
            token = self.take()
            raise bad_request(f"Syntax error at position {token.at} in '{self.text}'.")
        return condition

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return _join(parts, "OR")

    def conjunction(self) -> Condition:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return _join(parts, "AND")

    def unary(self) -> Condition:
        if self.keyword("not"):
            inner = self.unary()
            return Condition(f"NOT ({inner.sql})", inner.params)
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return Condition(f"({inner.sql})", inner.params)
        if token is not None and token.kind == "name":
            following = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
            if following is not None and following.text == "(":
                return self.function()
        return self.comparison()

    def comparison(self) -> Condition:
        left = self.take()
        op_token = self.take()
        op = _COMPARISONS.get(op_token.text)
        if op is None:
            raise bad_request(f"Syntax error at position {op_token.at} in '{self.text}'.")
        right = self.take()
        attribute = _attribute(left.text) if left.kind == "name" and not _is_keyword(left) else None
        if attribute is None:
            raise bad_request(
                f"A comparison needs a property on its left; found '{left.text}' at position "
                f"{left.at} in '{self.text}'."
            )
        if right.kind == "name" and not _is_keyword(right) and not right.text.startswith("@"):
            other = _attribute(right.text)
            _check_same(attribute, other, op_token.text)
            return Condition(f"{column_sql(attribute)} {op} {column_sql(other)}", ())
        literal = self.literal(right)
        return _compare(attribute, op, op_token.text, literal)

    def function(self) -> Condition:
        name = self.take().text
        self.expect("(")
        if name in ("contains", "startswith", "endswith"):
            attribute = _attribute(self.take().text)
            self.expect(",")
            literal = self.literal(self.take())
            self.expect(")")
            if attribute.type not in _STRING_TYPES or literal.edm != "Edm.String":
                raise bad_request(f"The function '{name}' takes a string property and a string.")
            pattern = _like_escape(fold(literal.value))
            pattern = {
                "contains": f"%{pattern}%",
                "startswith": f"{pattern}%",
                "endswith": f"%{pattern}",
            }[name]
            return Condition(f"{column_sql(attribute)} LIKE ? ESCAPE '\\'", (pattern,))
        if name in ("Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn"):
            arguments = self.named_arguments()
            property_name = arguments.get("PropertyName")
            values = arguments.get("PropertyValues")
            if not isinstance(property_name, str) or not isinstance(values, list):
                raise bad_request(f"'{name}' needs PropertyName and PropertyValues.")
            attribute = _attribute(property_name)
            converted = [_coerce_text(attribute, str(v)) for v in values]
            marks = ",".join("?" * len(converted)) or "NULL"
            negate = "NOT " if name.endswith("NotIn") else ""
            return Condition(f"{column_sql(attribute)} {negate}IN ({marks})", tuple(converted))
        raise bad_request(f"The function '{name}' is not supported by this service.")

    def named_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        while True:
            key = self.take().text
            self.expect("=")
            arguments[key] = self.argument_value()
            token = self.take()
            if token.text == ")":
                return arguments
            if token.text != ",":
                raise bad_request(f"Syntax error at position {token.at} in '{self.text}'.")

    def argument_value(self) -> Any:
        token = self.take()
        if token.kind == "name" and token.text.startswith("@"):
            raw = self.aliases.get(token.text)
            if raw is None:
                raise bad_request(f"The parameter alias '{token.text}' has no value.")
            return _alias_value(raw)
        if token.text == "[":
            items: list[Any] = []
            while True:
                item = self.take()
                if item.text == "]":
                    return items
                if item.text == ",":
                    continue
                items.append(self.literal(item).value)
        return self.literal(token).value

    def literal(self, token: _Token) -> _Literal:
        if token.kind == "name" and token.text.startswith("@"):
            raw = self.aliases.get(token.text)
            if raw is None:
                raise bad_request(f"The parameter alias '{token.text}' has no value.")
            return _Parser(raw, {}).literal(_tokens(raw)[0])
        if token.kind == "string":
            return _Literal("Edm.String", token.text[1:-1].replace("''", "'"))
        if token.kind == "dstring":
            return _Literal("Edm.String", json.loads(token.text))
        if token.kind == "guid":
            return _Literal("Edm.Guid", token.text.lower())
        if token.kind == "datetime":
            return _Literal("Edm.DateTimeOffset", _datetime(token.text))
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return _Literal("Edm.Int64", number)
        if token.kind == "name" and token.text in ("true", "false"):
            return _Literal("Edm.Boolean", token.text == "true")
        if token.kind == "name" and token.text == "null":
            return _Literal("Edm.Null", None)
        raise bad_request(f"Syntax error at position {token.at} in '{self.text}'.")


def _is_keyword(token: _Token) -> bool:
    return token.text in ("true", "false", "null", "and", "or", "not")


def _attribute(name: str) -> Attribute:
    attribute = ATTRIBUTE_BY_NAME.get(name)
    if attribute is None:
        raise bad_request(
            f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.contact'."
        )
    return attribute


def _check_same(left: Attribute, right: Attribute, op: str) -> None:
    if _EDM[left.type] != _EDM[right.type]:
        raise _incompatible(_EDM[left.type], _EDM[right.type], op)


def _incompatible(left: str, right: str, op: str) -> DataverseError:
    return bad_request(
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{left}' and '{right}' for operator kind '{op}'."
    )


def _compare(attribute: Attribute, op: str, op_name: str, literal: _Literal) -> Condition:
    column = column_sql(attribute)
    if literal.edm == "Edm.Null":
        if op_name not in ("eq", "ne"):
            raise bad_request(f"The operator '{op_name}' cannot compare with null.")
        return Condition(f"{column} IS {'NOT ' if op_name == 'ne' else ''}NULL", ())
    expected = _EDM[attribute.type]
    if expected == "Edm.Int32":
        expected = "Edm.Int64"
    if literal.edm != expected:
        raise _incompatible(_EDM[attribute.type], literal.edm, op_name)
    return Condition(f"{column} {op} ?", (_sql_value(attribute, literal.value),))


def _sql_value(attribute: Attribute, value: Any) -> Any:
    if attribute.type in _STRING_TYPES:
        return fold(str(value))
    if attribute.type == "Boolean":
        return int(bool(value))
    return value


def _coerce_text(attribute: Attribute, text: str) -> Any:
    """A value given as text (In's PropertyValues) as the attribute's SQL value."""
    if attribute.type in _STRING_TYPES:
        return fold(text)
    if attribute.type == "Uniqueidentifier":
        if not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text):
            raise bad_request(f"'{text}' is not a valid Guid value.")
        return text.lower()
    if attribute.type == "Boolean":
        return int(text.lower() == "true")
    if attribute.type == "DateTime":
        return _datetime(text)
    try:
        return int(text)
    except ValueError:
        raise bad_request(
            f"'{text}' is not a valid value for '{attribute.logical_name}'."
        ) from None


def _alias_value(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("["):
        try:
            return json.loads(raw.replace("'", '"')) if '"' not in raw else json.loads(raw)
        except json.JSONDecodeError:
            raise bad_request(
                "Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two "
                "elements in an array and properties of an object must be separated by commas."
            ) from None
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    return raw


def _datetime(text: str) -> float:
    value = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"The DateTimeOffset text '{text}' is not valid.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _join(parts: list[Condition], word: str) -> Condition:
    if len(parts) == 1:
        return parts[0]
    sql = f" {word} ".join(f"({p.sql})" for p in parts)
    return Condition(sql, tuple(v for p in parts for v in p.params))


def compile_filter(text: str, aliases: Mapping[str, str] | None = None) -> Condition:
    """Compile a `$filter` value (aliases: `@p1`-style query parameters) to SQL."""
    return _Parser(text, aliases or {}).parse()


#: The SQL function `fold` the compiled conditions call (register it on the connection).
FOLD_FUNCTION: tuple[str, int, Callable[[str | None], str | None]] = (
    "fold",
    1,
    lambda value: None if value is None else fold(value),
)
