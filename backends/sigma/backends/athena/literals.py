"""Sigma values as Trino SQL text (Athena engine version 3 and CloudTrail Lake both run Trino's SQL).

* String literals: `'...'` with `'` doubled; Trino gives no other character a meaning inside one (no backslash
  escapes: https://trino.io/docs/current/language/types.html#varchar), so a newline or a backslash is itself. The
  shell does: a `$NAME` inside a literal is split from its name (sql_string), so envsubst cannot fill it in.
* Case: Sigma compares strings case-insensitively unless `|cased`. The field is lowered with `lower()` and the
  value is written lowered. Python's `str.lower()` and Trino's `lower()` agree on ASCII; for a value with any
  other cased letter the literal is wrapped in `lower(...)`, so that the engine folds both sides the same way.
* Wildcards: Sigma's `*` and `?` become LIKE's `%` and `_`; a literal `%`, `_` or `\\` is escaped with `\\` and
  the comparison carries `ESCAPE '\\'` (https://trino.io/docs/current/functions/comparison.html#like).
"""

from __future__ import annotations

import re

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import Placeholder, SigmaString, SpecialChars

ESCAPE = "\\"
_LIKE_SPECIAL = {"%", "_", ESCAPE}


#: A `$` that envsubst could read as the start of a variable (`$NAME`, `${NAME}`): the queries are filled in with
#: envsubst (docs/athena.md), and a rule value holding `$ACCOUNT_IDS` would receive the quoted account list.
SHELL_VARIABLE = re.compile(r"\$(?=[{A-Za-z_])")


def sql_string(text: str) -> str:
    """`text` as a Trino string literal. A `$` that starts a shell variable ends one literal and the name starts
    the next (`('a$' || '{START_TIME}')`), so that envsubst, which fills in the query's placeholders, finds no
    variable inside a rule's value: the value reaches the engine as written, whatever the environment holds."""
    cuts = [0, *(m.end() for m in SHELL_VARIABLE.finditer(text)), len(text)]
    parts = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    quoted = ["'" + part.replace("'", "''") + "'" for part in parts]
    return quoted[0] if len(quoted) == 1 else "(" + " || ".join(quoted) + ")"


def needs_engine_lower(text: str) -> bool:
    """True if `text` has a cased letter outside ASCII (its lower case is left to the engine)."""
    return any(ord(c) > 127 and c.lower() != c.upper() for c in text)


def folded(text: str) -> str:
    """A literal equal to `text` lowered as the engine lowers: lowered here when ASCII, by `lower()` otherwise."""
    if needs_engine_lower(text):
        return f"lower({sql_string(text)})"
    return sql_string(text.lower())


def check_no_placeholders(value: SigmaString) -> None:
    if any(isinstance(p, Placeholder) for p in value.s):
        raise SigmaFeatureNotSupportedByBackendError(
            f"value {value} holds an unresolved placeholder; resolve it with a pipeline before converting"
        )


def has_wildcards(value: SigmaString) -> bool:
    return any(isinstance(p, SpecialChars) for p in value.s)


def plain_text(value: SigmaString) -> str:
    """The text of a value without wildcards."""
    return "".join(p for p in value.s if isinstance(p, str))


def like_pattern(value: SigmaString, lower: bool) -> str:
    """The LIKE pattern text of `value` (wildcards translated, `%`, `_`, `\\` escaped), lowered if `lower`."""
    out = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        else:
            text = part.lower() if lower and not needs_engine_lower(part) else part
            out.append("".join(ESCAPE + c if c in _LIKE_SPECIAL else c for c in text))
    return "".join(out)
