"""SOQL AST -> parametrized SQLite: field checks, SOQL's null semantics, case-insensitive text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consent_sync_sandbox.salesforce import soql
from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    fold_text,
    id_sequence,
    normalize_id,
    sobject,
    to_ms,
)

SqlParam = str | int | None

_TYPE_NAMES = {
    "id": "id",
    "email": "string",
    "string": "string",
    "phone": "string",
    "picklist": "string",
    "boolean": "boolean",
    "datetime": "dateTime",
}


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A checked query: which rows (as SQL over rowids) and which fields to return."""

    spec: SObjectSpec
    fields: tuple[FieldSpec, ...]
    count: bool
    sql: str
    params: tuple[SqlParam, ...]


def located(text: str, position: int, detail: str) -> str:
    """Salesforce's message shape: the query line, a caret, row/column and the detail."""
    before = text[:position]
    row = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1)
    line = text.split("\n")[row - 1]
    return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{detail}"


class _Compiler:
    def __init__(self, text: str, spec: SObjectSpec) -> None:
        self.text = text
        self.spec = spec
        self.params: list[SqlParam] = []

    def field(self, ref: soql.FieldRef) -> FieldSpec:
        found = self.spec.field(ref.name)
        if found is None:
            detail = (
                f"No such column '{ref.name}' on entity '{self.spec.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom "
                "field name. Please reference your WSDL or the describe call for the "
                "appropriate names."
            )
            raise SalesforceError(400, "INVALID_FIELD", located(self.text, ref.position, detail))
        return found

    def _filter_error(self, position: int, detail: str) -> SalesforceError:
        return SalesforceError(
            400, "INVALID_QUERY_FILTER_OPERATOR", located(self.text, position, detail)
        )

    def _param(self, spec: FieldSpec, value: soql.Value) -> SqlParam:
        """Check a literal against the field's type and convert it to the column's form."""
        wanted = _TYPE_NAMES[spec.type]
        mismatch = self._filter_error(
            value.position,
            f"value of filter criterion for field '{spec.name}' must be of type {wanted} "
            "and should not be enclosed in quotes",
        )
        if value.kind == "null":
            return None
        if spec.is_text:
            if value.kind != "string" or not isinstance(value.value, str):
                raise mismatch
            if spec.type == "id":
                if normalize_id(value.value) is None:
                    raise self._filter_error(value.position, f"invalid ID field: {value.value}")
                sequence = id_sequence(self.spec, value.value)
                return -1 if sequence is None else sequence  # another type's id matches nothing
            return fold_text(value.value) if spec.type == "email" else value.value
        if spec.type == "boolean":
            if value.kind != "boolean":
                raise mismatch
            return 1 if value.value else 0
        if value.kind != "datetime" or not isinstance(value.value, datetime):
            raise mismatch
        return to_ms(value.value)

    def column(self, spec: FieldSpec) -> str:
        if spec.type == "id":
            return "rowid"  # ids are minted from the rowid, in the same order
        if spec.type == "email":
            return "email_fold"
        if spec.is_text:
            return f"{spec.column} COLLATE NOCASE"
        return spec.column

    def condition(self, node: soql.Condition) -> str:
        if isinstance(node, soql.BoolOp):
            joined = f" {node.op} ".join(self.condition(o) for o in node.operands)
            return f"({joined})"
        if isinstance(node, soql.Not):
            # SOQL has two-valued logic: NOT over a null comparison is true.
            return f"(NOT COALESCE({self.condition(node.operand)}, 0))"
        return self.comparison(node)

    def comparison(self, node: soql.Comparison) -> str:
        spec = self.field(node.field)
        column = self.column(spec)
        if node.op == "LIKE":
            value = node.values[0]
            if not spec.is_text or spec.type == "id" or value.kind != "string":
                raise self._filter_error(
                    value.position, f"invalid operator on {_TYPE_NAMES[spec.type]} field"
                )
            pattern = value.like_pattern
            self.params.append(fold_text(pattern) if spec.type == "email" else pattern)
            target = "email_fold" if spec.type == "email" else spec.column
            return f"({target} LIKE ? ESCAPE '\\')"
        params = [self._param(spec, v) for v in node.values]
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
        spec = self.field(item.field)
        direction = "DESC" if item.descending else "ASC"
        nulls = "NULLS LAST" if item.nulls_last else "NULLS FIRST"
        return f"{self.column(spec)} {direction} {nulls}"


def compile_query(text: str, *, include_deleted: bool) -> CompiledQuery:
    """Parse and check a SOQL query; SalesforceError carries the REST error to return."""
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
    compiler = _Compiler(text, spec)
    fields: list[FieldSpec] = []
    for ref in tree.fields:
        spec_field = compiler.field(ref)
        if spec_field in fields:
            raise SalesforceError(
                400,
                "MALFORMED_QUERY",
                located(text, ref.position, f"duplicate field selected: {spec_field.name}"),
            )
        fields.append(spec_field)
    clauses = [] if include_deleted else ['"IsDeleted" = 0']
    if tree.where is not None:
        clauses.append(compiler.condition(tree.where))
    sql = f"SELECT rowid FROM {spec.table}"  # noqa: S608 - the table comes from the schema
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    order = [compiler.order(item) for item in tree.order_by]
    sql += " ORDER BY " + ", ".join([*order, "rowid ASC"])
    if tree.limit is not None or tree.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        compiler.params.extend([-1 if tree.limit is None else tree.limit, tree.offset or 0])
    return CompiledQuery(spec, tuple(fields), tree.count, sql, tuple(compiler.params))
