"""A SOQL subset: tokenizer and recursive-descent parser producing an AST.

Grammar (keywords case-insensitive):
    query      := SELECT (COUNT '(' ')' | field (',' field)*) FROM ident
                  [WHERE condition] [ORDER BY order (',' order)*] [LIMIT int] [OFFSET int]
    condition  := unary ((AND unary)* | (OR unary)*)      -- mixing needs parentheses
    unary      := NOT unary | '(' condition ')' | comparison
    comparison := field (op literal | [NOT] IN '(' literal (',' literal)* ')' | LIKE string)
    order      := field [ASC | DESC] [NULLS (FIRST | LAST)]
    field      := ident ('.' ident)*                        -- a path through lookups
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal as TypingLiteral

KEYWORDS = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC"}
    | {"NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "COUNT"}
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2})"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\dT])")
_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")  # `Party.Name`

TokenKind = TypingLiteral[
    "ident", "keyword", "string", "number", "datetime", "date", "op", "punct", "eof"
]
LiteralKind = TypingLiteral["string", "boolean", "null", "datetime", "date", "number"]
LiteralValue = str | bool | None | datetime | date | Decimal


class SoqlSyntaxError(ValueError):
    """The query is not valid SOQL (Salesforce answers MALFORMED_QUERY)."""

    def __init__(self, detail: str, position: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.position = position


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # keywords upper-cased; strings unescaped
    position: int
    like_pattern: str = ""  # strings only: the value as an SQL LIKE pattern, escape char '\'
    value: LiteralValue = None


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Value:
    kind: LiteralKind
    value: LiteralValue
    position: int
    like_pattern: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= LIKE IN NOT IN
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: TypingLiteral["AND", "OR"]
    operands: tuple[Condition, ...]


Condition = Comparison | Not | BoolOp


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[FieldRef, ...]  # empty for SELECT COUNT()
    count: bool
    sobject: str
    sobject_position: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


def _read_string(text: str, start: int) -> tuple[Token, int]:
    value: list[str] = []
    pattern: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "'":
            return Token("string", "".join(value), start, "".join(pattern)), i + 1
        if char == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                value.append(_ESCAPES[nxt])
                pattern.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            elif nxt in "%_":
                value.append("\\" + nxt)  # only LIKE gives \% and \_ a meaning
                pattern.append("\\" + nxt)
            else:
                raise SoqlSyntaxError(f"Invalid string literal: illegal escape \\{nxt}", i)
            i += 2
            continue
        value.append(char)
        pattern.append(char)
        i += 1
    raise SoqlSyntaxError("unexpected token: <EOF> (unterminated string literal)", start)


def _datetime_from(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second = (int(match.group(n)) for n in range(1, 7))
    millis = int((match.group(7) or "0").ljust(3, "0"))
    zone = match.group(8)
    if zone == "Z":
        tz = UTC
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(offset if zone[0] == "+" else -offset)
    return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=tz)


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens; string literals are unescaped as SOQL defines."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "'":
            token, i = _read_string(text, i)
            tokens.append(token)
        elif char in "(),":
            tokens.append(Token("punct", char, i))
            i += 1
        elif char in "=!<>":
            two = text[i : i + 2]
            if two in ("!=", "<=", ">=", "<>"):
                tokens.append(Token("op", "!=" if two == "<>" else two, i))
                i += 2
            elif char == "!":
                raise SoqlSyntaxError("unexpected token: '!'", i)
            else:
                tokens.append(Token("op", char, i))
                i += 1
        elif (match := _DATETIME_RE.match(text, i)) is not None:
            try:
                moment = _datetime_from(match)
            except ValueError as exc:
                raise SoqlSyntaxError(f"line 1:{i} no viable alternative: {exc}", i) from exc
            tokens.append(Token("datetime", match.group(0), i, value=moment))
            i = match.end()
        elif (match := _DATE_RE.match(text, i)) is not None:
            try:
                day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError as exc:
                raise SoqlSyntaxError(f"line 1:{i} no viable alternative: {exc}", i) from exc
            tokens.append(Token("date", match.group(0), i, value=day))
            i = match.end()
        elif (match := _NUMBER_RE.match(text, i)) is not None:
            tokens.append(Token("number", match.group(0), i, value=Decimal(match.group(0))))
            i = match.end()
        elif (match := _IDENT_RE.match(text, i)) is not None:
            word = match.group(0)
            if word.upper() in KEYWORDS:
                tokens.append(Token("keyword", word.upper(), i))
            else:
                tokens.append(Token("ident", word, i))
            i = match.end()
        else:
            raise SoqlSyntaxError(f"unexpected token: '{char}'", i)
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def _unexpected(self) -> SoqlSyntaxError:
        token = self.current
        shown = token.text if token.kind == "eof" else f"'{token.text}'"
        if token.kind == "string":
            shown = f"'{token.text}'"
        return SoqlSyntaxError(f"unexpected token: {shown}", token.position)

    def _at(self, kind: TokenKind, text: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (text is None or token.text == text)

    def _accept(self, kind: TokenKind, text: str | None = None) -> Token | None:
        return self._advance() if self._at(kind, text) else None

    def _expect(self, kind: TokenKind, text: str | None = None) -> Token:
        token = self._accept(kind, text)
        if token is None:
            raise self._unexpected()
        return token

    def _field(self) -> FieldRef:
        token = self._expect("ident")
        return FieldRef(token.text, token.position)

    def query(self) -> Query:
        self._expect("keyword", "SELECT")
        fields: list[FieldRef] = []
        count = False
        if self._at("keyword", "COUNT"):
            self._advance()
            self._expect("punct", "(")
            self._expect("punct", ")")
            count = True
        else:
            fields.append(self._field())
            while self._accept("punct", ","):
                fields.append(self._field())
        self._expect("keyword", "FROM")
        sobject = self._expect("ident")
        where = None
        if self._accept("keyword", "WHERE"):
            where = self._condition()
        order: list[OrderItem] = []
        if self._accept("keyword", "ORDER"):
            self._expect("keyword", "BY")
            order.append(self._order_item())
            while self._accept("punct", ","):
                order.append(self._order_item())
        limit = self._int_clause("LIMIT")
        offset = self._int_clause("OFFSET")
        if not self._at("eof"):
            raise self._unexpected()
        return Query(
            tuple(fields),
            count,
            sobject.text,
            sobject.position,
            where,
            tuple(order),
            limit,
            offset,
        )

    def _int_clause(self, keyword: str) -> int | None:
        if not self._accept("keyword", keyword):
            return None
        token = self._expect("number")
        if not token.text.isdigit():
            raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.position)
        return int(token.text)

    def _order_item(self) -> OrderItem:
        field = self._field()
        descending = False
        if self._accept("keyword", "DESC"):
            descending = True
        else:
            self._accept("keyword", "ASC")
        nulls_last = descending  # SOQL: ASC puts nulls first, DESC puts them last
        if self._accept("keyword", "NULLS"):
            if self._accept("keyword", "LAST"):
                nulls_last = True
            else:
                self._expect("keyword", "FIRST")
                nulls_last = False
        return OrderItem(field, descending, nulls_last)

    def _condition(self) -> Condition:
        first = self._unary()
        if not (self._at("keyword", "AND") or self._at("keyword", "OR")):
            return first
        op = self.current.text
        operands = [first]
        while self._at("keyword", op):
            self._advance()
            operands.append(self._unary())
        if self._at("keyword", "AND") or self._at("keyword", "OR"):
            raise self._unexpected()  # SOQL requires parentheses to mix AND and OR
        return BoolOp("AND" if op == "AND" else "OR", tuple(operands))

    def _unary(self) -> Condition:
        if self._accept("keyword", "NOT"):
            return Not(self._unary())
        if self._accept("punct", "("):
            inner = self._condition()
            self._expect("punct", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        field = self._field()
        if self._at("op"):
            op = self._advance().text
            return Comparison(field, op, (self._value(),))
        if self._accept("keyword", "LIKE"):
            return Comparison(field, "LIKE", (self._value(),))
        negated = self._accept("keyword", "NOT") is not None
        if self._accept("keyword", "IN"):
            self._expect("punct", "(")
            values = [self._value()]
            while self._accept("punct", ","):
                values.append(self._value())
            self._expect("punct", ")")
            return Comparison(field, "NOT IN" if negated else "IN", tuple(values))
        raise self._unexpected()

    def _value(self) -> Value:
        token = self.current
        if token.kind == "string":
            self._advance()
            return Value("string", token.text, token.position, token.like_pattern)
        if token.kind in ("datetime", "date", "number"):
            self._advance()
            return Value(token.kind, token.value, token.position)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            self._advance()
            return Value("boolean", token.text == "TRUE", token.position)
        if token.kind == "keyword" and token.text == "NULL":
            self._advance()
            return Value("null", None, token.position)
        raise self._unexpected()


def parse(text: str) -> Query:
    """Parse one SOQL query; raises SoqlSyntaxError with the offending position."""
    return _Parser(text).query()
