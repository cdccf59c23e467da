"""The pack's Athena DDL and Lake schema against AWS's published text (tests/data/aws_cloudtrail_tables/, with its
source): column names and types, partitions, and every column path the backends query. The tables the other tests
run queries on are built from the same published text (tables.py), so these checks and those runs share nothing
with the pack."""

from __future__ import annotations

import re

import pytest
from sigma.backends.athena.ddl import create_table
from sigma.backends.athena.tables import ATHENA, LAKE, LAKE_SCHEMA
from sqlglot import exp

from .tables import ORGANIZATION_PARTITIONS, ddl_columns, published_athena_columns, published_lake_columns


def _text(dtype: exp.DataType) -> str:
    return dtype.sql(dialect="athena").lower()


def _fields(dtype: exp.DataType) -> dict[str, exp.DataType]:
    return {f.name.lower(): f.args["kind"] for f in dtype.expressions}


def _fits(ours: exp.DataType, published: exp.DataType) -> bool:
    """`ours` reads a column of type `published`: the same type, or a struct naming some of its fields (a
    struct column may be declared with fewer fields than the data has), each fitting."""
    if ours.this == published.this == exp.DataType.Type.STRUCT:
        theirs = _fields(published)
        return all(name in theirs and _fits(kind, theirs[name]) for name, kind in _fields(ours).items())
    return _text(ours) == _text(published)


def test_the_athena_ddl_has_the_published_columns_and_types():
    ours, _ = ddl_columns(create_table())
    published = dict(published_athena_columns())
    assert [name for name, _ in ours] == list(published)
    assert {n: (_text(t), _text(published[n])) for n, t in ours if _text(t) != _text(published[n])} == {}


def test_the_athena_ddl_partitions_the_organization_trail_layout():
    _, partitions = ddl_columns(create_table())
    string = _text(exp.DataType.build("string", dialect="hive"))
    assert [(n, _text(t)) for n, t in partitions] == [(n, string) for n in ORGANIZATION_PARTITIONS]


@pytest.mark.parametrize("name, kind", LAKE_SCHEMA, ids=[n for n, _ in LAKE_SCHEMA])
def test_every_lake_column_the_backend_reads_is_published_with_its_type(name, kind):
    published = dict(published_lake_columns())
    assert name in published, f"{name}: not a column of the published event data store schema"
    assert _fits(exp.DataType.build(kind, dialect="hive"), published[name]), (kind, _text(published[name]))


_PATH = re.compile(r"^(?:CAST\()?([a-z_][a-z0-9_.]*)")


def _resolves(path: str, columns: list[tuple[str, exp.DataType]]) -> bool:
    head, *rest = path.split(".")
    kind = dict(columns).get(head)
    for part in rest:
        if kind is None or kind.this != exp.DataType.Type.STRUCT:
            return False
        kind = _fields(kind).get(part)
    return kind is not None


@pytest.mark.parametrize(
    "table, columns",
    [(ATHENA, published_athena_columns), (LAKE, published_lake_columns)],
    ids=["athena", "lake"],
)
def test_every_column_path_a_query_can_name_exists_in_the_published_table(table, columns):
    expressions = [*table.columns.values(), *table.json_text.values(), *table.maps.values(), table.time_column]
    paths = sorted({_PATH.match(e).group(1) for e in expressions})
    assert [p for p in paths if not _resolves(p, columns())] == []
