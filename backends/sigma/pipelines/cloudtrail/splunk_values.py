"""Values as pysigma-backend-splunk (2.1.0) must receive them: what it would write into a search that breaks
the search or the app's savedsearches.conf, or what it cannot write at all, dealt with before conversion.

* A regular expression is written into `| regex field="..."` with only `\\` and `"` escaped, so a line
  break or other control character in the pattern goes into the search raw (a line break inside a
  savedsearches.conf value continues the setting only after a backslash, [CONF] in tests/evaluators/spl.py),
  and a backtick starts a macro call. Each such character, raw or backslash-escaped in the pattern, is
  written as the PCRE escape `\\xHH` instead, which means that character in PCRE and in Python's `re` alike,
  inside a character class too. A verbose pattern (`(?x)`, where raw whitespace is ignored but `\\x0a` is
  not) with such characters is refused.
* Timestamp parts (`|minute`, `|hour`, ...): the backend has no expression for them (it raised
  NotImplementedError): refused.
* A placeholder (`|expand`) no pipeline replaced: refused, as every other target does, rather than failing
  the whole conversion.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.transformations.base import ValueTransformation
from sigma.types import SigmaRegularExpression, SigmaString, SigmaTimestampPart, SigmaType

TARGET = "splunk_cloudtrail"


def _unsafe(c: str) -> bool:
    return unicodedata.category(c) == "Cc" or c == "`"  # every Cc code point is below U+0100


def conf_safe_pattern(pattern: str) -> str:
    """`pattern` with every control character and backtick, raw or escaped, written `\\xHH`."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(f"\\x{ord(nxt):02x}" if _unsafe(nxt) else c + nxt)
            i += 2
            continue
        out.append(f"\\x{ord(c):02x}" if _unsafe(c) else c)
        i += 1
    return "".join(out)


def _refuse(what: str, reason: str) -> None:
    raise SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {what}: {reason}")


@dataclass
class SplunkValueTransformation(ValueTransformation):
    """Each value as pysigma-backend-splunk must receive it (see the module docstring)."""

    def apply_value(self, field: str, val: SigmaType):  # type: ignore[override]
        if isinstance(val, SigmaTimestampPart):
            _refuse(field, "pysigma-backend-splunk has no expression for a part of a date (|minute, |hour, ...)")
        if isinstance(val, SigmaString) and val.contains_placeholder():
            _refuse(field, f"the placeholder in {val.original!r} was not replaced by a processing pipeline; add one that expands it into values")
        if not isinstance(val, SigmaRegularExpression):
            return None
        pattern = str(val.regexp)
        safe = conf_safe_pattern(pattern)
        if safe == pattern:
            return None
        if re.compile(pattern).flags & re.VERBOSE:
            _refuse(f"{field}|re", "a verbose pattern ((?x)) with a control character or backtick cannot be written safely")
        return SigmaRegularExpression(safe, set(val.flags))
