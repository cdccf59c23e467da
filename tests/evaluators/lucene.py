"""Evaluate Lucene query strings (as Kibana runs `language: lucene` rules: a `query_string` query) over
ECS documents, with Elasticsearch's semantics for the field types of the AWS CloudTrail integration.

Parsing is luqum's (a Python port of Lucene's classic query parser grammar). Matching follows
Elasticsearch, per field type (types: `field_types.field_type`, read from the
integration's own fields.yml files and ECS, kept as test data: not the pack's table):

* keyword (and keyed sub-fields of a `flattened` field, which index every leaf as a keyword): a term or a
  quoted phrase matches the whole value exactly and case-sensitively (no normalizer, so the query text is
  not lower-cased): https://www.elastic.co/guide/en/elasticsearch/reference/current/keyword.html;
  unescaped `*` and `?` make a wildcard query (case-sensitive);
  https://www.elastic.co/guide/en/elasticsearch/reference/current/query-dsl-query-string-query.html#query-string-syntax
  Flattened leaves are compared as strings (numbers and booleans are indexed as their JSON text):
  https://www.elastic.co/guide/en/elasticsearch/reference/current/flattened.html.
  Elasticsearch refuses wildcard and regexp queries on keyed flattened fields (KeyedFlattenedFieldType
  throws "[wildcard] queries are not currently supported on keyed [flattened] fields"); so does this.
* boolean: `true` / `false`.
* date: a term is parsed as an ISO 8601 date and compared at millisecond precision.
* arrays: a document matches if any value does.
* `_exists_:field`: the field has a value.

Operators: AND, OR, NOT, +, -, grouping and field groups; juxtaposition is OR (query_string's default
operator). luqum's lexer differs from Lucene's in two places, which `parse` works around by hiding
characters as private-use code points before luqum sees the text and restoring them in the values: it cannot
lex an escaped line break or tab (Lucene can: `<_ESCAPED_CHAR: "\\" ~[]>`), and it splits terms on every
character Python calls whitespace, where Lucene splits only on space, tab, CR, LF and U+3000
(`<_WHITESPACE: (" " | "\t" | "\n" | "\r" | "\u3000")>`, QueryParser.jj); and it refuses a term that
starts with ', an ordinary character for Lucene.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from luqum import tree
from luqum.parser import parser

from elastic_ingest import ecs_field_values as field_values

from . import lucene_regexp
from .field_types import field_type
from .syntax import Wildcards
from .values import iso_datetime

_HIDDEN = {"\n": "\U000f0000", "\r": "\U000f0001", "\t": "\U000f0002", "\u3000": "\U000f0003"}
#: Characters Python's regular expressions call whitespace but Lucene's lexer does not.
_NOT_LUCENE_SPACE = {c: chr(0xF0100 + i) for i, c in enumerate(
    c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \t\n\r"
) if c != "\u3000"}
#: luqum refuses a term starting with a quote mark; for Lucene it is an ordinary character.
_NOT_LUCENE_SPACE["'"] = "\U000f0004"
_SHOWN = {v: k for k, v in {**_HIDDEN, **_NOT_LUCENE_SPACE}.items()}
_LUCENE_SPACE = " \t\n\r\u3000"


class UnsupportedQuery(Exception):
    """The query uses something Elasticsearch would reject on that field, or this evaluator does not know."""


def parse(query: str) -> tree.Item:
    if any(c in query for c in _SHOWN):
        raise UnsupportedQuery("query contains the evaluator's placeholder characters")
    hidden = re.sub(r"\\([\n\r\t\u3000])", lambda m: "\\" + _HIDDEN[m.group(1)], query)
    hidden = "".join(_NOT_LUCENE_SPACE.get(c, c) for c in hidden)
    return parser.parse(hidden)


def _restore(text: str) -> str:
    return "".join(_SHOWN.get(c, c) for c in text)


def unescape(text: str) -> str:
    """A term's literal value: every backslash escapes the character after it."""
    return _restore(re.sub(r"\\(.)", r"\1", text, flags=re.S))


#: A term's unescaped `*` and `?` are wildcards; a backslash escapes any character.
WILDCARDS = Wildcards(many="*", one="?", escape="\\")


def _pattern(raw: str) -> tuple[str | None, re.Pattern | None]:
    """(literal, None) for a term without wildcards, else (None, compiled pattern)."""
    text = _restore(raw)  # the hidden characters are none of `\\`, `*`, `?`
    if WILDCARDS.has_wildcard(text):
        return None, WILDCARDS.regex(text, re.S)
    return unescape(raw), None


def _as_string(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_date(text: str) -> datetime | None:
    dt = iso_datetime(text)
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).replace(microsecond=dt.microsecond // 1000 * 1000)


def _term_matches(field: str, term: tree.Term, doc: dict) -> bool:
    kind = field_type(field)
    values = field_values(doc, field)
    if isinstance(term, tree.Regex):
        if kind == "flattened":
            raise UnsupportedQuery(f"[regexp] queries are not supported on keyed flattened field {field}")
        pattern = lucene_regexp.compile(_restore(term.value[1:-1]))  # the query parser passes it on as written
        return any(isinstance(v, str) and pattern.fullmatch(v) for v in values)
    if isinstance(term, tree.Phrase):
        literal, pattern = unescape(term.value[1:-1]), None
    else:
        literal, pattern = _pattern(term.value)
    if pattern is not None:
        if kind == "flattened":
            raise UnsupportedQuery(f"[wildcard] queries are not supported on keyed flattened field {field}")
        if kind != "keyword":
            raise UnsupportedQuery(f"wildcards on {kind} field {field}")
        return any(isinstance(v, str) and pattern.fullmatch(v) for v in values)
    if kind == "boolean":
        if literal not in ("true", "false"):
            raise UnsupportedQuery(f"{literal!r} is not a boolean for {field}")
        return any(v is (literal == "true") or _as_string(v) == literal for v in values)
    if kind == "date":
        wanted = _parse_date(literal)
        if wanted is None:
            raise UnsupportedQuery(f"{literal!r} is not a date for {field}")
        return any(_parse_date(str(v)) == wanted for v in values)
    if kind == "flattened":
        return any(_as_string(v) == literal for v in values if not isinstance(v, (dict, list)))
    return any(isinstance(v, str) and v == literal for v in values)


def _field_name(name: str) -> str:
    return unescape(name)


def evaluate(node: tree.Item, doc: dict, field: str | None = None) -> bool:
    if isinstance(node, tree.SearchField):
        name = _field_name(node.name)
        if name == "_exists_":
            target = unescape(str(node.expr))
            return bool(field_values(doc, target))
        return evaluate(node.expr, doc, name)
    if isinstance(node, (tree.Group, tree.FieldGroup)):
        return evaluate(node.expr, doc, field)
    if isinstance(node, tree.AndOperation):
        return all(evaluate(op, doc, field) for op in node.operands)
    if isinstance(node, (tree.OrOperation, tree.UnknownOperation)):
        return _bool_query(node.operands, doc, field)
    if isinstance(node, tree.Not):
        return not evaluate(node.a, doc, field)
    if isinstance(node, tree.Prohibit):
        return not evaluate(node.a, doc, field)
    if isinstance(node, tree.Plus):
        return evaluate(node.a, doc, field)
    if isinstance(node, tree.Term):
        if field is None:
            raise UnsupportedQuery(f"field-less term {node} (default_field search)")
        return _term_matches(field, node, doc)
    raise UnsupportedQuery(f"{type(node).__name__} is not supported: {node}")


def _bool_query(operands, doc, field) -> bool:
    """Lucene's OR with + and - clauses: all + must match, no - may match, else any plain clause."""
    must = [o for o in operands if isinstance(o, tree.Plus)]
    must_not = [o for o in operands if isinstance(o, tree.Prohibit)]
    should = [o for o in operands if not isinstance(o, (tree.Plus, tree.Prohibit))]
    if any(evaluate(o.a, doc, field) for o in must_not):
        return False
    if must:
        return all(evaluate(o.a, doc, field) for o in must)
    return any(evaluate(o, doc, field) for o in should)


def matches(query: str, doc: dict) -> bool:
    return evaluate(parse(query), doc)


def compared_values(query: str) -> list[tuple[str, str]]:
    """(field, literal value) of every exact term in a query: what the hostile-value tests read back."""
    out = []

    def walk(node, field=None):
        if isinstance(node, tree.SearchField):
            walk(node.expr, _field_name(node.name))
            return
        if isinstance(node, tree.Phrase):
            out.append((field, unescape(node.value[1:-1])))
            return
        if isinstance(node, tree.Word):
            literal, pattern = _pattern(node.value)
            out.append((field, literal if pattern is None else pattern.pattern))
            return
        for child in node.children:
            walk(child, field)

    walk(parse(query))
    return out
