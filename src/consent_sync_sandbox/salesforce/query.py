"""SOQL AST -> parametrized SQLite: field checks, relationship paths as LEFT JOINs, SOQL's null
semantics, case-insensitive text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consent_sync_sandbox.salesforce import soql
from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.objects import sobject, target
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    SqlParam,
    fold_text,
    id_sequence,
    normalize_id,
    to_ms,
)

__all__ = ["CompiledQuery", "Selected", "SqlParam", "compile_query", "located"]

_TYPE_NAMES = {
    "id": "id",
    "reference": "id",
    "email": "string",
    "string": "string",
    "phone": "string",
    "picklist": "string",
    "boolean": "boolean",
    "datetime": "dateTime",
}
_RELATIONSHIP_HELP = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


@dataclass(frozen=True, slots=True)
class Selected:
    """A selected field, reached through `hops` lookups from the queried object (none: its own).

    `DataUsePurpose.Name` on ContactPointTypeConsent is hops (DataUsePurposeId,), field Name.
    """

    hops: tuple[FieldSpec, ...]
    field: FieldSpec

    @property
    def name(self) -> str:
        """The canonical SOQL path, e.g. `Party.Name`; a CSV column header in Bulk API 2.0."""
        return ".".join([*(hop.relationship for hop in self.hops), self.field.name])


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A checked query: which rows (as SQL over sequences) and which fields to return."""

    spec: SObjectSpec
    fields: tuple[Selected, ...]
    count: bool
    sql: str
    params: tuple[SqlParam, ...]
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A field path resolved to the object owning the field and that object's SQL alias."""

    owner: SObjectSpec
    field: FieldSpec
    alias: str
    hops: tuple[FieldSpec, ...]


def located(text: str, position: int, detail: str) -> str:
    """Salesforce's message shape: the query line, a caret, row/column and the detail."""
    before = text[:position]
    row = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1)
    line = text.split("\n")[row - 1]
    return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{detail}"


class _Compiler:
    def __init__(self, text: str, spec: SObjectSpec, *, include_deleted: bool) -> None:
        self.text = text
        self.spec = spec
        self.include_deleted = include_deleted
        self.params: list[SqlParam] = []
        self._aliases: dict[tuple[str, ...], str] = {}
        self.joins: list[str] = []

    def _invalid_field(self, ref: soql.FieldRef, detail: str) -> SalesforceError:
        return SalesforceError(400, "INVALID_FIELD", located(self.text, ref.position, detail))

    def resolve(self, ref: soql.FieldRef, *, join: bool) -> _Resolved:
        """Walk `A.B.Field` through lookups; `join` adds the LEFT JOINs WHERE/ORDER BY need."""
        *path, last = ref.name.split(".")
        spec, alias = self.spec, "t"
        hops: tuple[FieldSpec, ...] = ()
        for part in path:
            lookup = spec.lookup(part)
            if lookup is None:
                detail = f"Didn't understand relationship '{part}' in field path. "
                raise self._invalid_field(ref, detail + _RELATIONSHIP_HELP)
            hops = (*hops, lookup)
            spec = target(lookup)
            if join:
                alias = self._join(tuple(h.name for h in hops), alias, lookup, spec)
        found = spec.field(last)
        if found is None:
            detail = (
                f"No such column '{last}' on entity '{spec.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names."
            )
            raise self._invalid_field(ref, detail)
        return _Resolved(spec, found, alias, hops)

    def _join(
        self, key: tuple[str, ...], parent_alias: str, lookup: FieldSpec, spec: SObjectSpec
    ) -> str:
        if key not in self._aliases:
            alias = f"j{len(self._aliases) + 1}"
            self._aliases[key] = alias
            live = "" if self.include_deleted else f' AND {alias}."IsDeleted" = 0'
            self.joins.append(
                f"LEFT JOIN {spec.table} AS {alias} "
                f"ON {alias}.seq = {parent_alias}.{lookup.column}{live}"
            )
        return self._aliases[key]

    def _filter_error(self, position: int, detail: str) -> SalesforceError:
        return SalesforceError(
            400, "INVALID_QUERY_FILTER_OPERATOR", located(self.text, position, detail)
        )

    def _param(self, where: _Resolved, value: soql.Value) -> SqlParam:
        """Check a literal against the field's type and convert it to the column's form."""
        spec = where.field
        wanted = _TYPE_NAMES[spec.type]
        mismatch = self._filter_error(
            value.position,
            f"value of filter criterion for field '{spec.name}' must be of type {wanted} "
            "and should not be enclosed in quotes",
        )
        if value.kind == "null":
            return None
        if spec.is_text or spec.type == "reference":
            if value.kind != "string" or not isinstance(value.value, str):
                raise mismatch
            if spec.type in ("id", "reference"):
                if normalize_id(value.value) is None:
                    raise self._filter_error(value.position, f"invalid ID field: {value.value}")
                owner = where.owner if spec.type == "id" else target(spec)
                sequence = id_sequence(owner, value.value)
                return -1 if sequence is None else sequence  # another type's id matches nothing
            return fold_text(value.value) if spec.type == "email" else value.value
        if spec.type == "boolean":
            if value.kind != "boolean":
                raise mismatch
            return 1 if value.value else 0
        if value.kind != "datetime" or not isinstance(value.value, datetime):
            raise mismatch
        return to_ms(value.value)

    @staticmethod
    def column(where: _Resolved) -> str:
        spec, alias = where.field, where.alias
        if spec.type == "id":
            return f"{alias}.seq"  # ids are minted from the sequence, in the same order
        if spec.type == "email":
            return f"{alias}.{spec.fold_column}"
        if spec.is_text:
            return f"{alias}.{spec.column} COLLATE NOCASE"
        return f"{alias}.{spec.column}"

    def condition(self, node: soql.Condition) -> str:
        if isinstance(node, soql.BoolOp):
            joined = f" {node.op} ".join(self.condition(o) for o in node.operands)
            return f"({joined})"
        if isinstance(node, soql.Not):
            # SOQL has two-valued logic: NOT over a null comparison is true.
            return f"(NOT COALESCE({self.condition(node.operand)}, 0))"
        return self.comparison(node)

    def comparison(self, node: soql.Comparison) -> str:
        where = self.resolve(node.field, join=True)
        spec = where.field
        column = self.column(where)
        if node.op == "LIKE":
            value = node.values[0]
            if not spec.is_text or spec.type == "id" or value.kind != "string":
                raise self._filter_error(
                    value.position, f"invalid operator on {_TYPE_NAMES[spec.type]} field"
                )
            pattern = value.like_pattern
            self.params.append(fold_text(pattern) if spec.type == "email" else pattern)
            stored = spec.fold_column if spec.type == "email" else spec.column
            return f"({where.alias}.{stored} LIKE ? ESCAPE '\\')"
        params = [self._param(where, v) for v in node.values]
        if node.op in ("IN", "NOT IN"):
            present = [p for p in params if p is not None]
            has_null = len(present) < len(params)
            self.params.extend(present)
            marks = ", ".join("?" for _ in present)
            if node.op == "IN":
                inside = f"{column} IN ({marks})" if present else "0"
                return f"({inside} OR {column} IS NULL)" if has_null else f"({inside})"
            outside = f"{column} NOT IN ({marks})" if present else "1"
            if has_null:
                return f"({outside} AND {column} IS NOT NULL)"
            return f"({outside} OR {column} IS NULL)"
        (param,) = params
        if param is None:
            if node.op == "=":
                return f"({column} IS NULL)"
            if node.op == "!=":
                return f"({column} IS NOT NULL)"
            return "(0)"
        self.params.append(param)
        if node.op == "!=":
            return f"({column} IS NOT ?)"  # SOQL: a null field is "not equal" to a value
        return f"({column} {node.op} ?)"

    def order(self, item: soql.OrderItem) -> str:
        where = self.resolve(item.field, join=True)
        direction = "DESC" if item.descending else "ASC"
        nulls = "NULLS LAST" if item.nulls_last else "NULLS FIRST"
        return f"{self.column(where)} {direction} {nulls}"


#: The longest SOQL statement Salesforce takes, in characters.
MAX_SOQL_LENGTH = 100_000


def compile_query(text: str, *, include_deleted: bool) -> CompiledQuery:
    """Parse and check a SOQL query; SalesforceError carries the REST error to return."""
    if len(text) > MAX_SOQL_LENGTH:  # a hard limit (Salesforce Help 000386440); our wording
        raise SalesforceError(
            400,
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_SOQL_LENGTH:,} characters",
        )
    try:
        tree = soql.parse(text)
    except soql.SoqlSyntaxError as exc:
        raise SalesforceError(
            400, "MALFORMED_QUERY", located(text, exc.position, exc.detail)
        ) from exc
    spec = sobject(tree.sobject)
    if spec is None:
        detail = (
            f"sObject type '{tree.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names."
        )
        raise SalesforceError(400, "INVALID_TYPE", located(text, tree.sobject_position, detail))
    compiler = _Compiler(text, spec, include_deleted=include_deleted)
    fields: list[Selected] = []
    for ref in tree.fields:
        where = compiler.resolve(ref, join=False)
        selected = Selected(where.hops, where.field)
        if selected in fields:
            raise SalesforceError(
                400,
                "MALFORMED_QUERY",
                located(text, ref.position, f"duplicate field selected: {selected.name}"),
            )
        fields.append(selected)
    clauses = [] if include_deleted else ['t."IsDeleted" = 0']
    if tree.where is not None:
        clauses.append(compiler.condition(tree.where))
    order = [compiler.order(item) for item in tree.order_by]
    sql = " ".join([f"SELECT t.seq FROM {spec.table} AS t", *compiler.joins])  # noqa: S608
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY " + ", ".join([*order, "t.seq ASC"])
    if tree.limit is not None or tree.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        compiler.params.extend([-1 if tree.limit is None else tree.limit, tree.offset or 0])
    return CompiledQuery(
        spec, tuple(fields), tree.count, sql, tuple(compiler.params), include_deleted
    )
