"""Which records can a rule possibly match? The event names it requires, read off its condition.

Almost every CloudTrail rule pins `eventName`. If every way a rule's condition can be true requires
`eventName` to equal one of a few values, a record with another event name cannot match, and `scan`
need not parse it. The derivation is conservative: anything it cannot prove (NOT, wildcards, regex,
keywords, other fields) yields None, meaning "this rule must see every record".
"""

from __future__ import annotations

import re

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaRegularExpression, SigmaString


KEY_FIELD = "eventName"


def required_event_names(rule: SigmaRule) -> frozenset[str] | None:
    """Lower-cased event names one of which every match has; None if the rule can match any record."""
    names: set[str] = set()
    for condition in rule.detection.parsed_condition:
        found = _names(condition.parsed)
        if found is None:
            return None
        names |= found
    return frozenset(names)


def _names(node) -> frozenset[str] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if node.field == KEY_FIELD and isinstance(value, SigmaString) and not value.contains_special():
            return frozenset({str(value).lower()})
        return None
    if isinstance(node, ConditionAND):
        known = [n for n in map(_names, node.args) if n is not None]
        return frozenset.intersection(*known) if known else None
    if isinstance(node, ConditionOR):
        parts = [_names(arg) for arg in node.args]
        return None if any(p is None for p in parts) else frozenset().union(*parts)
    if isinstance(node, ConditionNOT):
        return None
    return None  # keywords, and anything new to pySigma: no claim


# ---- required literals: a raw-bytes test for rules that pin no event name ---------------------------
#
# A rule such as `userIdentity.type: AssumedRole` matches only records whose value holds "AssumedRole";
# if the record's bytes lack "assumedrole" (ASCII-folded), the rule cannot match and its predicate, or
# the record's decoding, can be skipped. Sound because, for a record whose bytes hold no backslash (no
# JSON escape), every string the reference engine compares is in the bytes verbatim: a string field is
# its own bytes, an object or array is json.dumps text whose string tokens are the record's strings, and
# a run of the characters below cannot straddle two tokens (no quote, space, colon, comma, bracket);
# json.dumps spells non-ASCII as \uXXXX, so a record with a non-ASCII byte is not tested either.
# Numbers are re-formatted (1e5 -> 100000.0), so a run must hold a character no number has. The test
# folds ASCII case only, like SQLite's NOCASE and LIKE (https://www.sqlite.org/datatype3.html#collation);
# a regular expression is used only when it has no flags (a case-insensitive one folds Unicode).
_RUN = re.compile(r"[A-Za-z0-9_./@=+*?#%&!~$'()<>;|^`-]+")
_NUMBER_CHARS = frozenset("0123456789.+-eEInfinityNaN")


def _runs(text: str) -> frozenset[bytes] | None:
    """The usable runs of a literal the value must contain (all of them), or None if there is none."""
    runs = frozenset(
        r.lower().encode("ascii")
        for r in _RUN.findall(text)
        if r.isascii() and not set(r) <= _NUMBER_CHARS
    )
    return runs or None


def _regex_runs(pattern: str) -> frozenset[bytes] | None:
    """Runs of literal characters at the top level of a pattern: every match contains each of them."""
    try:
        parsed = re._parser.parse(pattern)  # the parser `re.compile` itself uses
    except (re.error, RecursionError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    runs: set[bytes] = set()
    current: list[str] = []
    for op, arg in list(parsed) + [(None, None)]:
        if op is re._constants.LITERAL:
            current.append(chr(arg))
            continue
        if current:
            found = _runs("".join(current))
            if found:
                runs |= found
            current = []
    return frozenset(runs) or None


def _literals(node) -> tuple[frozenset[bytes], ...] | None:
    """Alternatives (OR) of sets of runs (AND) one of which every match of `node` holds; None: no claim."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if isinstance(value, SigmaString) and not value.contains_placeholder():
            parts = [p for p in value.s if isinstance(p, str)]
            runs = frozenset().union(*(r for r in map(_runs, parts) if r))
            return (runs,) if runs else None
        pattern = getattr(value.regexp, "original", None) if isinstance(value, SigmaRegularExpression) else None
        if isinstance(pattern, str) and not value.flags:  # the pattern as written, not as a Sigma string
            runs = _regex_runs(pattern)
            return (runs,) if runs else None
        return None
    if isinstance(node, ConditionAND):
        known = [k for k in map(_literals, node.args) if k is not None]
        if not known:
            return None
        singles = [k[0] for k in known if len(k) == 1]
        if singles:
            return (frozenset().union(*singles),)
        return known[0]
    if isinstance(node, ConditionOR):
        parts = [_literals(arg) for arg in node.args]
        return None if any(p is None for p in parts) else tuple(alt for p in parts for alt in p)
    return None  # NOT, keywords, anything new to pySigma: no claim


def required_literals(rule: SigmaRule) -> tuple[frozenset[bytes], ...] | None:
    """Alternatives of lower-cased byte runs: a match's record bytes (escape-free) hold every run of one."""
    out: list[frozenset[bytes]] = []
    for condition in rule.detection.parsed_condition:
        found = _literals(condition.parsed)
        if found is None:
            return None
        out.extend(found)
    # a run inside another run of its alternative adds nothing ("role" in "assumedrole")
    out = [frozenset(r for r in alt if not any(r != o and r in o for o in alt)) for alt in out]
    return tuple(dict.fromkeys(out)) or None
