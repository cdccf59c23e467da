"""The reference engine's SQL for a rule, as a Spark SQL expression with SQLite's meaning.

Why not a backend of its own, or pySigma-backend-databricks: the reference is the definition of a match
(`reference.py`), so the Spark engine runs *its* query, converted node by node (docs/spark.md gives the
measurements that ruled out the Databricks backend). The query is parsed once, by the parser the matcher
uses (`where.py`: SQLite's grammar and precedence); each node of that tree is written back as Spark SQL
with what SQLite does for it, over a table where every field is text (Spark reads CloudTrail values as
JSON text, `spark_read.py`):

- every column of the reference table is `COLLATE NOCASE`, so `=` and `!=` compare ASCII-folded text
  (`translate(x, 'A..Z', 'a..z')`: SQLite's NOCASE folds ASCII only, 'É' stays 'É') unless the SQL says
  COLLATE BINARY; SQL's three-valued logic is Spark's too;
- LIKE is ASCII-case-insensitive in SQLite (case-sensitive in Spark): both sides are folded; a literal
  pattern is re-read with SQLite's rules (escape, `%`, `_`) and re-written with Spark's escape `\\`;
- GLOB (`|cased`) becomes a case-sensitive LIKE (only the single-character classes the backend writes);
- REGEXP is the reference's `re.search` (false, never NULL, on a missing value): RLIKE with the pattern
  rewritten by `spark_regex.py`, wrapped in `coalesce(..., false)`;
- numbers and booleans are refused: SQLite tells the number 5 from the text '5', JSON text does not.

Anything else (other functions, CAST, IN, ordering comparisons, other collations) is refused with the node
that caused it: a refused rule is listed in the scan summary, never run with another meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spark_regex import RegexUnsupported, python_to_java
from .sqlite_values import fold as fold_text
from .where import (
    And,
    Call,
    Collate,
    Column,
    Compare,
    Concat,
    Glob,
    IsNull,
    Like,
    Node,
    Not,
    Null,
    Number,
    Or,
    Regexp,
    String,
    Unsupported,
    describe,
    parse_query,
)

__all__ = ["SparkUnsupported", "SparkPredicate", "compile_where", "spark_string", "fold_text"]

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
LIKE_ESCAPE = "\\"


class SparkUnsupported(ValueError):
    """A rule's SQL uses something the Spark engine cannot run with SQLite's meaning."""


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

    def value(self, node: Node) -> tuple[str, bool | None, bool]:
        """(Spark SQL, explicit collation: True NOCASE / False BINARY / None, is a column)."""
        if isinstance(node, Collate):
            if node.name not in _COLLATIONS:
                raise SparkUnsupported(f"COLLATE {node.name}")
            sql, _, is_col = self.value(node.operand)
            return sql, _COLLATIONS[node.name], is_col
        if isinstance(node, Column):
            self.fields.add(node.name)
            return column_name(node.name), None, True
        if isinstance(node, Number):
            raise SparkUnsupported(
                f"the number {node.text}: SQLite tells the number from the text, JSON text in Spark does not"
            )
        if isinstance(node, String):
            return spark_string(node.value), None, False
        if isinstance(node, Null):
            return "NULL", None, False
        if isinstance(node, Concat):
            return f"({self.text(node.left)} || {self.text(node.right)})", None, False
        if isinstance(node, Call) and node.name == "REPLACE" and len(node.args) == 3:
            return f"replace({', '.join(self.text(a) for a in node.args)})", None, False
        raise SparkUnsupported(describe(node))

    def text(self, node: Node) -> str:
        sql, collation, _ = self.value(node)
        if collation is not None:
            raise SparkUnsupported("COLLATE inside an expression")
        return sql

    @staticmethod
    def literal(node: Node | None) -> str | None:
        return node.value if isinstance(node, String) else None

    # -- conditions --------------------------------------------------------------------------------

    def cond(self, node: Node) -> str:
        if isinstance(node, (And, Or)):
            op = "AND" if isinstance(node, And) else "OR"
            return f"({self.cond(node.left)} {op} {self.cond(node.right)})"
        if isinstance(node, Not):
            inner = node.operand
            if isinstance(inner, IsNull) and not inner.negated:
                return f"({self.text(inner.operand)} IS NOT NULL)"
            return f"(NOT {self.cond(inner)})"
        if isinstance(node, IsNull):
            return f"({self.text(node.operand)} IS {'NOT ' if node.negated else ''}NULL)"
        if isinstance(node, Call) and node.name == "COALESCE":
            return self.coalesce(node)
        method = _CONDITIONS.get(type(node))
        if method is None:
            raise SparkUnsupported(describe(node))
        return method(self, node)

    def coalesce(self, node: Call) -> str:
        """COALESCE(condition, 0), as the backend wraps a NOT's operand: NULL reads as false."""
        if len(node.args) == 2 and isinstance(node.args[1], Number) and node.args[1].text == "0":
            return f"coalesce({self.cond(node.args[0])}, false)"
        raise SparkUnsupported(f"{describe(node)} other than COALESCE(condition, 0)")

    def equality(self, node: Compare) -> str:
        if node.op not in ("=", "!="):
            raise SparkUnsupported(describe(node))
        left, lcoll, lcol = self.value(node.left)
        right, rcoll, rcol = self.value(node.right)
        # SQLite: the left operand's explicit collation, else the right's, else a column's (NOCASE)
        nocase = lcoll if lcoll is not None else rcoll if rcoll is not None else (lcol or rcol)
        op = "=" if node.op == "=" else "<>"
        if nocase:
            right_lit = self.literal(node.right.operand if isinstance(node.right, Collate) else node.right)
            right = spark_string(fold_text(right_lit)) if right_lit is not None else fold(right)
            left_lit = self.literal(node.left.operand if isinstance(node.left, Collate) else node.left)
            left = spark_string(fold_text(left_lit)) if left_lit is not None else fold(left)
        return f"({left} {op} {right})"

    def like(self, node: Like) -> str:
        escape = None
        if node.escape is not None:
            escape = self.literal(node.escape)
            if escape is None or len(escape) != 1:
                raise SparkUnsupported("LIKE with an ESCAPE that is not one character")
        subject = fold(self.text(node.value))
        pattern = self.literal(node.pattern)
        if pattern is not None:
            return f"({subject} LIKE {spark_string(_like_pattern(fold_text(pattern), escape))})"
        if escape != LIKE_ESCAPE:
            raise SparkUnsupported("LIKE over a computed pattern without ESCAPE '\\'")
        # a computed pattern (|fieldref with |contains...): the backend escapes \ % _ with \ in it
        return f"({subject} LIKE {fold(self.text(node.pattern))})"

    def glob(self, node: Glob) -> str:
        pattern = self.literal(node.pattern)
        if pattern is None:
            raise SparkUnsupported("GLOB with a pattern that is not a literal")
        return f"({self.text(node.value)} LIKE {spark_string(_glob_pattern(pattern))})"

    def regexp(self, node: Regexp) -> str:
        pattern = self.literal(node.pattern)
        if pattern is None:
            raise SparkUnsupported("REGEXP with a pattern that is not a literal")
        try:
            java = python_to_java(pattern)
        except RegexUnsupported as e:
            raise SparkUnsupported(f"regular expression {pattern!r}: {e}") from e
        return f"coalesce({self.text(node.value)} RLIKE {spark_string(java)}, false)"


_CONDITIONS = {Compare: _Translator.equality, Like: _Translator.like, Glob: _Translator.glob,
               Regexp: _Translator.regexp}


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
    try:
        tree = parse_query(sql)
    except Unsupported as e:
        raise SparkUnsupported(str(e)) from e
    translator = _Translator()
    try:
        condition = translator.cond(tree)
    except RecursionError as e:
        raise SparkUnsupported("the condition is too deeply nested to translate") from e
    return SparkPredicate(condition, frozenset(translator.fields))
