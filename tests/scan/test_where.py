"""The shared parse of the reference's SQL (engine/where.py): its tree means what SQLite means by the text, on
generated expressions whose meaning hangs on precedence, and it reads every query the SQLite backend writes for
the pack and SigmaHQ's AWS rules; both compilers (matcher.py, spark_sql.py) consume that one tree."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.engine import where as W
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import load_pack
from sigmahq_corpus import CORPUS as SIGMAHQ, RULE_FILES

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("a", "b", "c.d")
ROWS = [(None, "x", "X"), ("x", "X", None), ("", "a%", "A_"), (1, "1", 2.5), ("É", "é", "x\\y"), ("ab", "a_", "AB")]


def to_sql(node) -> str:
    """The tree as SQL, every operation in parentheses (so SQLite reads exactly the tree's structure)."""
    if isinstance(node, W.Column):
        return "`" + node.name.replace("`", "``") + "`"
    if isinstance(node, W.String):
        return "'" + node.value.replace("'", "''") + "'"
    if isinstance(node, W.Number):
        return f"({node.text})"
    if isinstance(node, W.Null):
        return "NULL"
    if isinstance(node, W.Collate):
        return f"({to_sql(node.operand)} COLLATE {node.name})"
    if isinstance(node, W.Call):
        return f"{node.name}({', '.join(map(to_sql, node.args))})"
    if isinstance(node, W.Like):
        escape = f" ESCAPE {to_sql(node.escape)}" if node.escape is not None else ""
        return f"({to_sql(node.value)} LIKE {to_sql(node.pattern)}{escape})"
    if isinstance(node, W.IsNull):
        return f"({to_sql(node.operand)} IS {'NOT ' if node.negated else ''}NULL)"
    if isinstance(node, W.Not):
        return f"(NOT {to_sql(node.operand)})"
    binary = {W.Concat: "||", W.Glob: "GLOB", W.Regexp: "REGEXP", W.And: "AND", W.Or: "OR"}
    if isinstance(node, W.Compare):
        return f"({to_sql(node.left)} {node.op} {to_sql(node.right)})"
    left, right = (node.value, node.pattern) if isinstance(node, (W.Glob, W.Regexp)) else (node.left, node.right)
    return f"({to_sql(left)} {binary[type(node)]} {to_sql(right)})"


def evaluate(expression: str) -> list | None:
    """SQLite's value of the expression on every row of a table like the reference's (NOCASE columns, its
    REGEXP), or None where SQLite refuses it."""
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, lambda p, v: v is not None and re.search(p, str(v)) is not None)
    db.execute(f"CREATE TABLE cloudtrail ({', '.join(f'`{c}` COLLATE NOCASE' for c in COLUMNS)})")
    db.executemany("INSERT INTO cloudtrail VALUES (?, ?, ?)", ROWS)
    try:
        return [row[0] for row in db.execute(f"SELECT ({expression}) FROM cloudtrail ORDER BY rowid")]
    except (sqlite3.Error, re.error, TypeError):
        return None
    finally:
        db.close()


OPERANDS = st.sampled_from(["a", "b", "`c.d`", "'x'", "'X'", "'a%'", "'_'", "''", "NULL", "1", "- 1", "2.5"])
INFIX = st.sampled_from(["AND", "OR", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "||", "LIKE", "NOT LIKE",
                         "GLOB", "NOT GLOB", "REGEXP", "NOT REGEXP"])
POSTFIX = st.sampled_from(["IS NULL", "IS NOT NULL", "COLLATE NOCASE", "COLLATE BINARY"])


def _extend(inner):
    return st.one_of(
        st.tuples(inner, INFIX, inner).map(" ".join),
        inner.map("NOT {}".format),
        inner.map("({})".format),
        st.tuples(inner, POSTFIX).map(" ".join),
        st.tuples(inner, inner, st.sampled_from(["'\\'", "'x'"])).map(lambda t: f"{t[0]} LIKE {t[1]} ESCAPE {t[2]}"),
        st.tuples(inner, inner).map(lambda t: f"COALESCE({t[0]}, {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"REPLACE({t[0]}, {t[1]}, {t[2]})"),
    )


EXPRESSIONS = st.recursive(OPERANDS, _extend, max_leaves=7)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(EXPRESSIONS)
@example("NOT a = b")  # NOT binds looser than =
@example("a = b IS NULL")  # = and IS: one level, left to right
@example("a IS NULL = b")
@example("NOT a IS NULL < a")  # IS takes an expression: a IS (NULL < a)
@example("NOT a LIKE b AND b")  # NOT ... AND: NOT first
@example("a NOT LIKE b OR a")
@example("a || b COLLATE NOCASE = 'x'")  # COLLATE binds tightest, || before =
@example("a LIKE 'x' ESCAPE 'y' = b")  # ESCAPE belongs to LIKE, then =
@example("a LIKE b || 'x' ESCAPE '\\'")  # || inside the pattern
@example("(a LIKE a ESCAPE '\\' < a)")  # ... and inside ESCAPE's operand: ESCAPE ('\' < a)
@example("a OR b AND NOT a")  # AND before OR
@example("a < b = b < a")  # < before =
@example("a = b < 1")
@example("- 1 < a")  # a signed number
@example("a GLOB b = a REGEXP b")
@example("COALESCE(a = 'x', 0) OR NOT COALESCE(b LIKE 'x%', 0)")  # as the backend writes NOT
def test_the_tree_means_what_sqlite_means_by_the_text(expression):
    expected = evaluate(expression)
    assume(expected is not None)  # SQLite refuses it: no meaning to keep
    try:
        tree = W.parse_expression(expression)
    except W.Unsupported:
        return  # refused: a compiler never reads it with another meaning
    assert evaluate(to_sql(tree)) == expected, to_sql(tree)


@pytest.mark.parametrize("text, reason", [
    ("CAST(a AS INTEGER) = 1", "CAST"),
    ("a IN ('x', 'y')", "trailing SQL"),
    ("a BETWEEN 1 AND 2", "trailing SQL"),
    ("a = ", "unsupported SQL token None"),
    ("- a = 1", "unary sign"),
    ("a GLOB 'x' ESCAPE 'y'", "ESCAPE after GLOB"),
    ("a IS 'x'", "IS with an operand other than NULL"),
    ("a = 'x' \x01", "unexpected SQL"),
])
def test_what_the_grammar_does_not_read_is_refused_with_the_reason(text, reason):
    with pytest.raises(W.Unsupported, match=re.escape(reason)):
        W.parse_expression(text)


def test_a_query_of_another_shape_a_nul_or_a_bare_value_is_refused():
    with pytest.raises(W.Unsupported, match="unexpected query shape"):
        W.parse_query("SELECT eventID FROM cloudtrail WHERE a = 'x'")
    with pytest.raises(W.Unsupported, match="NUL"):
        W.parse_query(W.PREFIX + "a = 'x\x00'")
    with pytest.raises(W.Unsupported, match="bare value"):
        W.parse_query(W.PREFIX + "a")
    with pytest.raises(W.Unsupported, match="too deeply nested"):
        W.parse_query(W.PREFIX + "(" * 5000 + "a = 'x'" + ")" * 5000)


@pytest.mark.parametrize("rules", ["pack", "sigmahq"])
def test_every_query_the_backend_writes_parses_into_one_shared_tree(rules):
    if rules == "sigmahq" and not RULE_FILES:
        pytest.skip(f"SigmaHQ corpus not found at {SIGMAHQ}")
    pack = load_pack(ROOT / "sigma" if rules == "pack" else SIGMAHQ)
    queries = ReferenceEngine(pack).queries
    assert queries
    for sql in queries.values():
        tree = W.parse_query(sql)
        assert W.is_condition(tree)
        assert W.parse_query(sql) is tree  # parsed once: the matcher and Spark compile the same tree
        assert evaluate(to_sql(tree)) == evaluate(sql[len(W.PREFIX):]), sql
