"""OData v2 ``$filter``/``$orderby`` parsing, compiled to parameterised SQL over stored rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .entities import FieldType
from .errors import ExactApiError

NET_TYPES: dict[str, str] = {
    "guid": "System.Guid", "string": "System.String", "int": "System.Int32",
    "int64": "System.Int64", "decimal": "System.Double", "bool": "System.Boolean",
    "datetime": "System.DateTime", "null": "<null>",
}
NUMERIC = {"int", "int64", "decimal"}
COMPARE = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
SWAP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<typed>(?:guid|datetime|datetimeoffset|time|X|binary)'(?:[^']|'')*')
      | (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str   # typed / str / num / name / punct / end
    text: str
    pos: int


@dataclass(frozen=True)
class Operand:
    """A compiled operand: SQL text + params, its type, and its value when it is a literal."""
    sql: str
    params: tuple[Any, ...]
    type: str            # a FieldType, "null", or "boolexpr" for predicates
    literal: bool = False
    value: Any = None


def syntax_error(pos: int) -> ExactApiError:
    return ExactApiError(400, f"Syntax error at position {pos}.")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise syntax_error(pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_datetime_ms(text: str) -> int:
    """``2024-01-01``, ``2024-01-01T10:00[:00[.123]]`` (naive = UTC), ``Z``/offset → epoch ms."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"invalid datetime {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


class _Parser:
    def __init__(
        self, text: str, fields: Mapping[str, FieldType], type_name: str,
        columns: Mapping[str, str], allowed: frozenset[str] | None,
    ) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.fields = fields
        self.type_name = type_name
        self.columns = columns
        self.allowed = allowed

    # --- token helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text == word

    def expect(self, text: str) -> Token:
        tok = self.take()
        if tok.text != text:
            raise syntax_error(tok.pos)
        return tok

    # --- grammar
    def parse(self) -> Operand:
        node = self.or_expr()
        if self.peek().kind != "end":
            raise syntax_error(self.peek().pos)
        return self.as_predicate(node, self.peek().pos)

    def or_expr(self) -> Operand:
        left = self.and_expr()
        while self.is_word("or"):
            pos = self.take().pos
            right = self.and_expr()
            left = self.combine(left, right, "OR", pos)
        return left

    def and_expr(self) -> Operand:
        left = self.unary()
        while self.is_word("and"):
            pos = self.take().pos
            right = self.unary()
            left = self.combine(left, right, "AND", pos)
        return left

    def combine(self, left: Operand, right: Operand, op: str, pos: int) -> Operand:
        a, b = self.as_predicate(left, pos), self.as_predicate(right, pos)
        return Operand(f"({a.sql} {op} {b.sql})", a.params + b.params, "boolexpr")

    def unary(self) -> Operand:
        if self.is_word("not"):
            pos = self.take().pos
            inner = self.as_predicate(self.unary(), pos)
            return Operand(f"(NOT {inner.sql})", inner.params, "boolexpr")
        return self.comparison()

    def comparison(self) -> Operand:
        left = self.operand()
        tok = self.peek()
        if tok.kind == "name" and tok.text in COMPARE:
            self.take()
            right = self.operand()
            return self.compare(left, tok.text, right, tok.pos)
        return left

    def operand(self) -> Operand:
        tok = self.take()
        if tok.kind == "punct" and tok.text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok.kind in ("typed", "str", "num"):
            return self.literal(tok)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                value = tok.text == "true"
                return Operand("?", (value,), "bool", True, value)
            if tok.text == "null":
                return Operand("NULL", (), "null", True, None)
            if self.peek().text == "(":
                return self.function(tok)
            return self.field(tok)
        raise syntax_error(tok.pos)

    def literal(self, tok: Token) -> Operand:
        text = tok.text
        if tok.kind == "str":
            value = text[1:-1].replace("''", "'")
            return Operand("?", (value,), "string", True, value)
        if tok.kind == "num":
            suffix = text[-1] if text[-1] in "LlMmDdFf" else ""
            body = text[:-1] if suffix else text
            if suffix in ("L", "l") or (not suffix and re.fullmatch(r"-?\d+", body)):
                try:
                    number: int | float = int(body)
                except ValueError:
                    raise syntax_error(tok.pos) from None
                ltype = "int64" if suffix else "int"
            else:
                number, ltype = float(body), "decimal"
            return Operand("?", (number,), ltype, True, number)
        prefix, _, rest = text.partition("'")
        inner = rest[:-1].replace("''", "'")
        if prefix == "guid":
            if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", inner):
                raise ExactApiError(400, f"Unrecognized 'Edm.Guid' literal '{text}' "
                                         f"in '{self.text}'.")
            return Operand("?", (inner.lower(),), "guid", True, inner.lower())
        if prefix in ("datetime", "datetimeoffset"):
            try:
                ms = parse_datetime_ms(inner)
            except ValueError:
                raise ExactApiError(400, f"Unrecognized 'Edm.DateTime' literal '{text}' "
                                         f"in '{self.text}'.") from None
            return Operand("?", (ms,), "datetime", True, ms)
        raise ExactApiError(400, f"Unrecognized literal '{text}' at position {tok.pos}.")

    def field(self, tok: Token) -> Operand:
        name = tok.text
        ftype = self.fields.get(name)
        if ftype is None:
            raise ExactApiError(
                400, f"No property '{name}' exists in type '{self.type_name}' "
                     f"at position {tok.pos}.")
        if self.allowed is not None and name not in self.allowed:
            raise ExactApiError(400, "This $filter parameter is not supported for this resource")
        column = self.columns.get(name)
        if column is not None:
            return Operand(column, (), ftype)
        return Operand("json_extract(data, ?)", (f"$.{name}",), ftype)

    def args(self) -> list[Operand]:
        self.expect("(")
        out = [self.or_expr()]
        while self.peek().text == ",":
            self.take()
            out.append(self.or_expr())
        self.expect(")")
        return out

    def function(self, tok: Token) -> Operand:
        name = tok.text.lower()
        args = self.args()
        arity = {"trim": 1, "tolower": 1, "toupper": 1, "length": 1, "substringof": 2,
                 "startswith": 2, "endswith": 2, "year": 1, "month": 1, "day": 1}
        if name not in arity:
            raise ExactApiError(400, f"Unknown function '{tok.text}' at position {tok.pos}.")
        if len(args) != arity[name]:
            raise ExactApiError(400, f"No applicable function found for '{tok.text}' at "
                                     f"position {tok.pos} with the specified arguments.")
        if name in ("year", "month", "day"):
            (a,) = args
            self.need(a, "datetime", tok)
            fmt = {"year": "%Y", "month": "%m", "day": "%d"}[name]
            return Operand(f"CAST(strftime('{fmt}', {a.sql} / 1000, 'unixepoch') AS INTEGER)",
                           a.params, "int")
        if name in ("trim", "tolower", "toupper", "length"):
            (a,) = args
            self.need(a, "string", tok)
            sql_fn = {"trim": "trim", "tolower": "lower", "toupper": "upper",
                      "length": "length"}[name]
            return Operand(f"{sql_fn}({a.sql})", a.params, "int" if name == "length" else
                           "string")
        a, b = args
        self.need(a, "string", tok)
        self.need(b, "string", tok)
        if name == "substringof":  # substringof(needle, haystack)
            return Operand(f"(instr(lower({b.sql}), lower({a.sql})) > 0)", b.params + a.params,
                           "boolexpr")
        if name == "startswith":
            return Operand(f"(substr(lower({a.sql}), 1, length({b.sql})) = lower({b.sql}))",
                           a.params + b.params + b.params, "boolexpr")
        return Operand(f"(substr(lower({a.sql}), -length({b.sql})) = lower({b.sql}))",
                       a.params + b.params + b.params, "boolexpr")

    def need(self, a: Operand, ftype: str, tok: Token) -> None:
        if a.type not in (ftype, "null"):
            raise ExactApiError(400, f"No applicable function found for '{tok.text}' at "
                                     f"position {tok.pos} with the specified arguments. The "
                                     f"functions considered are: {tok.text}({NET_TYPES[ftype]}).")

    # --- predicates
    def as_predicate(self, node: Operand, pos: int) -> Operand:
        if node.type == "boolexpr":
            return node
        if node.type == "bool":
            return Operand(f"({node.sql} = 1)", node.params, "boolexpr")
        raise ExactApiError(400, f"Expression of type '{NET_TYPES.get(node.type, node.type)}' "
                                 f"expected to be of type 'System.Boolean' at position {pos}.")

    def compare(self, left: Operand, op: str, right: Operand, pos: int) -> Operand:
        if left.literal and not right.literal:
            left, right, op = right, left, SWAP[op]
        if left.type == "boolexpr" or right.type == "boolexpr":
            pred, other = (left, right) if left.type == "boolexpr" else (right, left)
            if op not in ("eq", "ne") or other.type not in ("bool", "boolexpr"):
                raise self.incompatible(op, left, right, pos)
            if other.literal:
                positive = bool(other.value) == (op == "eq")
                return pred if positive else Operand(f"(NOT {pred.sql})", pred.params,
                                                     "boolexpr")
            other_p = self.as_predicate(other, pos)
            sql = f"({pred.sql} {'=' if op == 'eq' else '!='} {other_p.sql})"
            return Operand(sql, pred.params + other_p.params, "boolexpr")
        if right.type == "null" or left.type == "null":
            target = left if right.type == "null" else right
            if op == "eq":
                return Operand(f"({target.sql} IS NULL)", target.params, "boolexpr")
            if op == "ne":
                return Operand(f"({target.sql} IS NOT NULL)", target.params, "boolexpr")
            return Operand("(0)", (), "boolexpr")
        if not self.compatible(left.type, right.type):
            raise self.incompatible(op, left, right, pos)
        sql_op = COMPARE[op]
        if left.type == "string":
            if op in ("eq", "ne"):  # SQL Server semantics: trailing spaces and case ignored
                sql = f"(rtrim({left.sql}) {sql_op} rtrim({right.sql}) COLLATE NOCASE)"
            else:
                sql = f"({left.sql} {sql_op} {right.sql} COLLATE NOCASE)"
        elif left.type == "bool":
            sql = f"({left.sql} {sql_op} {right.sql})"
        else:
            sql = f"({left.sql} {sql_op} {right.sql})"
        return Operand(sql, left.params + right.params, "boolexpr")

    @staticmethod
    def compatible(a: str, b: str) -> bool:
        return a == b or (a in NUMERIC and b in NUMERIC)

    def incompatible(self, op: str, a: Operand, b: Operand, pos: int) -> ExactApiError:
        return ExactApiError(
            400, f"Operator '{op}' incompatible with operand types "
                 f"'{NET_TYPES.get(a.type, 'System.Boolean')}' and "
                 f"'{NET_TYPES.get(b.type, 'System.Boolean')}' at position {pos}.")


def compile_filter(
    text: str,
    fields: Mapping[str, FieldType],
    *,
    type_name: str,
    columns: Mapping[str, str] | None = None,
    allowed: frozenset[str] | None = None,
) -> tuple[str, list[Any]]:
    """``$filter`` text → (SQL boolean expression, params). ``columns`` maps fields to indexed
    columns (``Timestamp`` → ``ts``); ``allowed`` limits filterable fields (sync endpoints)."""
    if not text.strip():
        raise ExactApiError(400, "This $filter parameter is not supported for this resource")
    node = _Parser(text, fields, type_name, columns or {}, allowed).parse()
    return node.sql, list(node.params)


FILTER_CACHE = 256
_COMPILED: dict[tuple[int, str, str, str | None], tuple[object, str, tuple[Any, ...]]] = {}


def cached_filter(owner: object, mode: str, text: str, unindexed: str | None,
                  compile_it: Callable[[], tuple[str, list[Any]]]) -> tuple[str, tuple[Any, ...]]:
    """``compile_it()`` once per (entity ``owner``, mode, text, unindexed column): every page
    of a sync repeats its ``$filter``, and compiling it cost more than a short page's own
    query. Errors are not kept (each bad request raises its own)."""
    key = (id(owner), mode, text, unindexed)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1], hit[2]
    sql, params = compile_it()
    if len(_COMPILED) >= FILTER_CACHE:
        _COMPILED.clear()
    _COMPILED[key] = (owner, sql, tuple(params))
    return sql, tuple(params)
