"""Regular expressions in Logs Insights queries: what the engine accepts, and how to write one as a `/.../` literal.

Logs Insights matches `like /re/` and `=~ /re/` with Hyperscan ("CloudWatch Logs Insights supports Hyperscan",
CWL_QuerySyntax "Matches and regular expressions in the filter command"). Hyperscan follows PCRE syntax but rejects
"backreferences", "arbitrary zero-width assertions" (lookahead, lookbehind), "atomic grouping and possessive
quantifiers", "conditional patterns", "subroutine references and recursive patterns", "backtracking control
verbs", `\\C`, `\\R`, `\\K` and callouts (Hyperscan developer reference, "Compiling Patterns" > "Unsupported
Constructs"). A Sigma `re` value using one of those is refused: the query would fail in Logs Insights, or worse be
rewritten into something else.
"""

from __future__ import annotations

_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\v": "\\x0b"}

# Escapes that Hyperscan rejects, or that mean something else in Python's `re` (which pySigma validated the
# regex with) than in PCRE, so no single reading is safe.
_UNSUPPORTED_ESCAPES = {
    "K": "the match-start reset \\K",
    "R": "the newline sequence \\R",
    "C": "the single-byte escape \\C",
    "X": "the extended grapheme cluster \\X",
    "G": "the \\G anchor",
    "Q": "\\Q...\\E quoting",
    "E": "\\Q...\\E quoting",
    "g": "backreferences (\\g)",
    "k": "named backreferences (\\k)",
    "h": "\\h (horizontal space in PCRE)",
    "H": "\\H (non-horizontal space in PCRE)",
    "V": "\\V (non-vertical space in PCRE)",
    "N": "\\N",
}
_ALLOWED_INLINE_FLAGS = set("imsx-")


def unsupported_construct(pattern: str) -> str | None:
    """Describe the first construct in `pattern` that Logs Insights' regex engine does not support, or None."""
    i, n = 0, len(pattern)
    in_class = False
    after_quantifier = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            reason = _escape_construct(pattern[i + 1 : i + 2], in_class)
            if reason:
                return reason
            i, after_quantifier = i + 2, False
        elif in_class:
            if c == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
                return "POSIX bracket expressions ([:alpha:])"
            in_class = c != "]"
            i += 1
        else:
            reason, i, in_class, after_quantifier = _outside_class(pattern, i, after_quantifier)
            if reason:
                return reason
    return None


def _escape_construct(nxt: str, in_class: bool) -> str | None:
    """What is unsupported about the escape `\\<nxt>` (`nxt` empty at the end of the pattern), or None."""
    if nxt.isdigit() and nxt != "0" and not in_class:
        return f"backreferences (\\{nxt})"
    if nxt in _UNSUPPORTED_ESCAPES:
        return _UNSUPPORTED_ESCAPES[nxt]
    if nxt == "v":
        return "\\v (vertical space in PCRE, a vertical tab elsewhere)"
    return None


def _outside_class(pattern: str, i: int, after_quantifier: bool) -> tuple[str | None, int, bool, bool]:
    """The token at `i`, outside a character class: (what is unsupported about it or None, the next index, whether
    a character class is open after it, whether it ends a quantifier)."""
    c = pattern[i]
    if c == "[":
        i += 1
        # a ']' (after an optional '^') right at the start is a literal member
        if pattern[i : i + 1] == "^":
            i += 1
        if pattern[i : i + 1] == "]":
            i += 1
        return None, i, True, False
    if c == "(":
        skip = 2 if pattern[i + 1 : i + 2] == "?" else 1  # '(?' opens group syntax, not a quantifier
        return _group_construct(pattern[i + 1 :]), i + skip, False, False
    if c in "*+?":
        if after_quantifier and c == "+":
            return "possessive quantifiers", i, False, False
        # '?' right after a quantifier makes it lazy, which Hyperscan accepts; nothing may follow that
        return None, i + 1, False, not (after_quantifier and c == "?")
    if c == "{":
        return _braces(pattern, i)
    return None, i + 1, False, False


def _braces(pattern: str, i: int) -> tuple[str | None, int, bool, bool]:
    """`{` at `i`: a counted quantifier `{n}`, `{n,}`, `{n,m}`, the unsupported `{,n}`, or a literal brace."""
    close = pattern.find("}", i)
    body = pattern[i + 1 : close] if close > 0 else ""
    if close > 0 and body and all(ch.isdigit() or ch == "," for ch in body) and body[0] != ",":
        return None, close + 1, False, True
    if body.startswith(","):
        return "{,n} quantifiers (a literal in PCRE, a quantifier in Python)", i, False, False
    return None, i + 1, False, False


def _group_construct(rest: str) -> str | None:
    if not rest.startswith("?"):
        if rest.startswith("*"):
            return "backtracking control verbs ((*VERB))"
        return None
    body = rest[1:]
    if body[:1] in ("=", "!"):
        return "lookahead assertions"
    if body[:2] in ("<=", "<!"):
        return "lookbehind assertions"
    if body[:1] == ">":
        return "atomic groups"
    if body[:1] == "(":
        return "conditional patterns"
    if body[:2] == "P=" or body[:2] == "P>":
        return "backreferences ((?P=name))"
    if body[:1] in ("R", "&") or body[:1].isdigit() or body[:2] in ("+1", "-1"):
        return "recursion and subroutine calls"
    if body[:1] == "C":
        return "callouts"
    if body[:1] in (":", "#") or body[:1] == "<" or body[:2] == "P<" or body[:1] == "'":
        return None
    flags = ""
    for ch in body:
        if ch in ":)":
            break
        flags += ch
    if flags and not set(flags) <= _ALLOWED_INLINE_FLAGS:
        return f"the inline flag(s) (?{flags}) (Logs Insights' engine knows i, m, s and x)"
    return None


def escape_for_literal(pattern: str) -> str:
    """Write a regular expression so it can stand between the slashes of a Logs Insights `/.../` literal.

    An unescaped `/` would end the literal: it is written `\\/`, which every PCRE engine reads as `/` (the idiom
    CloudWatch's own examples use for paths). Raw control characters become escapes, so the query stays on the lines
    its commands are on. Everything else, escapes included, is kept as written.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\" + nxt if not _is_control(nxt) else control_escape(nxt))
            i += 2
            continue
        if c == "\\":  # a trailing lone backslash cannot occur in a valid regex; keep it explicit
            out.append("\\\\")
        elif c == "/":
            out.append("\\/")
        elif _is_control(c):
            out.append(control_escape(c))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _is_control(c: str) -> bool:
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F or c in "\u2028\u2029"


def control_escape(c: str) -> str:
    """A PCRE escape for a control or line-separator character."""
    if c in _CONTROL_ESCAPES:
        return _CONTROL_ESCAPES[c]
    o = ord(c)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\x{{{o:04x}}}"


def is_control(c: str) -> bool:
    return _is_control(c)
