"""The reference engine's SQL for a rule, as a Spark SQL expression with SQLite's meaning.

Why not a backend of its own, or pySigma-backend-databricks: the reference is the definition of a match
(`reference.py`), so the Spark engine runs *its* query, converted node by node (docs/spark.md gives the
measurements that ruled out the Databricks backend). sqlglot parses the SQLite text (sqlite dialect);
each node is written back as Spark SQL with what SQLite does for it, over a table where every field is
text (Spark reads CloudTrail values as JSON text, `spark_read.py`):

- every column of the reference table is `COLLATE NOCASE`, so `=` and `!=` compare ASCII-folded text
  (`translate(x, 'A..Z', 'a..z')`: SQLite's NOCASE folds ASCII only, 'É' stays 'É') unless the SQL says
  COLLATE BINARY; SQL's three-valued logic is Spark's too;
- LIKE is ASCII-case-insensitive in SQLite (case-sensitive in Spark): both sides are folded; a literal
  pattern is re-read with SQLite's rules (escape, `%`, `_`) and re-written with Spark's escape `\\`;
- GLOB (`|cased`) becomes a case-sensitive LIKE (only the single-character classes the backend writes);
- REGEXP is the reference's `re.search` (false, never NULL, on a missing value): RLIKE with the pattern
  rewritten by `spark_regex.py`, wrapped in `coalesce(..., false)`;
- numbers and booleans are refused: SQLite tells the number 5 from the text '5', JSON text does not.

Anything else (functions, CAST, IN over columns, other collations) is refused with the node that
caused it: a refused rule is listed in the scan summary, never run with another meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from .spark_regex import RegexUnsupported, python_to_java

__all__ = ["SparkUnsupported", "SparkPredicate", "compile_where", "spark_string", "fold_text"]

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}
LIKE_ESCAPE = "\\"


class SparkUnsupported(ValueError):
    """A rule's SQL uses something the Spark engine cannot run with SQLite's meaning."""


def fold_text(s: str) -> str:
    """SQLite's NOCASE folding of a literal: ASCII letters only."""
    return s.translate(_ASCII_LOWER)


def fold(sql: str) -> str:
    """SQLite's NOCASE folding of a Spark SQL expression."""
    return f"translate({sql}, '{_UPPER}', '{_LOWER}')"


def spark_string(s: str) -> str:
    """A Spark SQL string literal (spark.sql.parser.escapedStringLiterals=false, Spark's default):
    printable ASCII as is, quote and backslash escaped, everything else as \\uXXXX (UTF-16 units)."""
    out = []
    for ch in s:
        if ch in "'\\":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            data = ch.encode("utf-16-be", "surrogatepass")
            out.extend("\\u%02x%02x" % (data[i], data[i + 1]) for i in range(0, len(data), 2))
    return "'" + "".join(out) + "'"


def column_name(field: str) -> str:
    """A flat column named as the reference's (the dotted field path), quoted for Spark SQL."""
    return "`" + field.replace("`", "``") + "`"


@dataclass(frozen=True)
class SparkPredicate:
    sql: str  # a boolean Spark SQL expression over columns named as the fields
    fields: frozenset[str]  # the dotted field paths it reads


_COLLATIONS = {"NOCASE": True, "BINARY": False}


class _Translator:
    def __init__(self):
        self.fields: set[str] = set()

    # -- values ------------------------------------------------------------------------------------

    def value(self, node: exp.Expression) -> tuple[str, bool | None, bool]:
        """(Spark SQL, explicit collation: True NOCASE / False BINARY / None, is a column)."""
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.Collate):
            name = node.expression.name.upper()
            if name not in _COLLATIONS:
                raise SparkUnsupported(f"COLLATE {name}")
            sql, _, is_col = self.value(node.this)
            return sql, _COLLATIONS[name], is_col
        if isinstance(node, exp.Column):
            if node.table:
                raise SparkUnsupported(f"qualified column {node.sql()}")
            self.fields.add(node.name)
            return column_name(node.name), None, True
        if isinstance(node, exp.Literal):
            if not node.is_string:
                raise SparkUnsupported(
                    f"the number {node.this}: SQLite tells the number from the text, JSON text in Spark does not"
                )
            return spark_string(node.this), None, False
        if isinstance(node, exp.Null):
            return "NULL", None, False
        if isinstance(node, exp.DPipe):
            return f"({self.text(node.this)} || {self.text(node.expression)})", None, False
        if isinstance(node, exp.Replace):
            args = [self.text(a) for a in (node.this, node.expression, node.args.get("replacement"))]
            return f"replace({', '.join(args)})", None, False
        raise SparkUnsupported(f"{node.key.upper()} ({node.sql(dialect='sqlite')})")

    def text(self, node) -> str:
        if node is None:
            raise SparkUnsupported("a missing operand")
        sql, collation, _ = self.value(node)
        if collation is not None:
            raise SparkUnsupported("COLLATE inside an expression")
        return sql

    def literal(self, node) -> str | None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Literal) and node.is_string:
            return node.this
        return None

    # -- conditions --------------------------------------------------------------------------------

    def cond(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return self.cond(node.this)
        if isinstance(node, exp.And):
            return f"({self.cond(node.this)} AND {self.cond(node.expression)})"
        if isinstance(node, exp.Or):
            return f"({self.cond(node.this)} OR {self.cond(node.expression)})"
        if isinstance(node, exp.Not):
            inner = node.this
            if isinstance(inner, exp.Is):
                return f"({self.text(inner.this)} IS NOT NULL)" if self._is_null(inner) else self._refuse(node)
            return f"(NOT {self.cond(inner)})"
        if isinstance(node, exp.Coalesce):
            rest = node.expressions
            if len(rest) == 1 and isinstance(rest[0], exp.Literal) and rest[0].this in ("0", 0):
                return f"coalesce({self.cond(node.this)}, false)"
            return self._refuse(node)
        if isinstance(node, exp.Is):
            return f"({self.text(node.this)} IS NULL)" if self._is_null(node) else self._refuse(node)
        if isinstance(node, (exp.EQ, exp.NEQ)):
            return self.equality(node)
        if isinstance(node, exp.Escape) and isinstance(node.this, exp.Like):
            escape = self.literal(node.expression)
            if escape is None or len(escape) != 1:
                raise SparkUnsupported("LIKE with an ESCAPE that is not one character")
            return self.like(node.this, escape)
        if isinstance(node, exp.Like):
            return self.like(node, None)
        if isinstance(node, exp.Glob):
            return self.glob(node)
        if isinstance(node, exp.RegexpLike):
            pattern = self.literal(node.expression)
            if pattern is None:
                raise SparkUnsupported("REGEXP with a pattern that is not a literal")
            try:
                java = python_to_java(pattern)
            except RegexUnsupported as e:
                raise SparkUnsupported(f"regular expression {pattern!r}: {e}") from e
            return f"coalesce({self.text(node.this)} RLIKE {spark_string(java)}, false)"
        if isinstance(node, exp.In):
            if node.args.get("query") or not node.expressions:
                return self._refuse(node)
            return "(" + " OR ".join(self.equality(exp.EQ(this=node.this, expression=e)) for e in node.expressions) + ")"
        return self._refuse(node)

    @staticmethod
    def _is_null(node: exp.Is) -> bool:
        return isinstance(node.expression, exp.Null)

    @staticmethod
    def _refuse(node):
        raise SparkUnsupported(f"{node.key.upper()} ({node.sql(dialect='sqlite')})")

    def equality(self, node) -> str:
        left, lcoll, lcol = self.value(node.this)
        right, rcoll, rcol = self.value(node.expression)
        # SQLite: the left operand's explicit collation, else the right's, else a column's (NOCASE)
        nocase = lcoll if lcoll is not None else rcoll if rcoll is not None else (lcol or rcol)
        op = "=" if isinstance(node, exp.EQ) else "<>"
        if nocase:
            right_lit = self.literal(node.expression.this if isinstance(node.expression, exp.Collate) else node.expression)
            right = spark_string(fold_text(right_lit)) if right_lit is not None else fold(right)
            left_lit = self.literal(node.this.this if isinstance(node.this, exp.Collate) else node.this)
            left = spark_string(fold_text(left_lit)) if left_lit is not None else fold(left)
        return f"({left} {op} {right})"

    def like(self, node: exp.Like, escape: str | None) -> str:
        subject = fold(self.text(node.this))
        pattern = self.literal(node.expression)
        if pattern is not None:
            return f"({subject} LIKE {spark_string(_like_pattern(fold_text(pattern), escape))})"
        if escape != LIKE_ESCAPE:
            raise SparkUnsupported("LIKE over a computed pattern without ESCAPE '\\'")
        # a computed pattern (|fieldref with |contains...): the backend escapes \ % _ with \ in it
        return f"({subject} LIKE {fold(self.text(node.expression))})"

    def glob(self, node: exp.Glob) -> str:
        pattern = self.literal(node.expression)
        if pattern is None:
            raise SparkUnsupported("GLOB with a pattern that is not a literal")
        return f"({self.text(node.this)} LIKE {spark_string(_glob_pattern(pattern))})"


def _escape_like(c: str) -> str:
    return LIKE_ESCAPE + c if c in "%_" + LIKE_ESCAPE else c


def _like_pattern(pattern: str, escape: str | None) -> str:
    """A SQLite LIKE pattern (SQLite's patternCompare: '%', '_', escape before any character) as the
    same pattern for Spark's LIKE with its default escape, backslash."""
    pattern = pattern.split("\x00", 1)[0]  # SQLite reads the pattern as a C string
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%" or c == "_":
            out.append(c)
        elif escape is not None and c == escape:
            i += 1
            if i == len(pattern):
                raise SparkUnsupported("a LIKE pattern ending in its escape character (matches nothing in SQLite)")
            out.append(_escape_like(pattern[i]))
        else:
            out.append(_escape_like(c))
        i += 1
    return "".join(out)


def _glob_pattern(pattern: str) -> str:
    """A SQLite GLOB pattern as a case-sensitive LIKE pattern (the backend's [x] classes only)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        elif c == "[":
            if i + 2 < len(pattern) and pattern[i + 2] == "]" and pattern[i + 1] not in "^]":
                out.append(_escape_like(pattern[i + 1]))
                i += 2
            else:
                raise SparkUnsupported(f"GLOB character class in {pattern!r}")
        else:
            out.append(_escape_like(c))
        i += 1
    return "".join(out)


def compile_where(sql: str) -> SparkPredicate:
    """The WHERE clause of the reference's `SELECT * FROM cloudtrail WHERE ...` as Spark SQL."""
    if "\x00" in sql:
        raise SparkUnsupported("a NUL character, which sqlite3 (the reference) refuses in a query")
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError as e:
        raise SparkUnsupported(f"SQL sqlglot cannot parse ({e})") from e
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None:
        raise SparkUnsupported("not a SELECT ... WHERE query")
    translator = _Translator()
    return SparkPredicate(translator.cond(where.this), frozenset(translator.fields))
