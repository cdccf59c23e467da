"""How many states a Lucene RegExp's automaton has once determinized: Elasticsearch refuses a regular
expression whose determinization needs more than 10,000 states (`too_complex_to_determinize_exception`,
Lucene `Operations.DEFAULT_DETERMINIZE_WORK_LIMIT` / ES `max_determinized_states`), and one longer than
`index.max_regex_length` (1000).

The pattern (the subset `lucene_regexp.to_python` reads: literals, `\\c`, `.`, classes, groups, `|`, `* + ? {n,m}`)
becomes a Thompson NFA over an alphabet cut into the classes of characters the pattern tells apart, and is
determinized by subset construction, the construction Lucene's `Operations.determinize` performs. Lucene
builds its NFA differently (and minimizes parts on the way), so the count is an estimate of the same order,
not Lucene's exact number; a pattern far below the limit here is far below it there.
"""

from __future__ import annotations

from .lucene_regexp import LuceneRegexpError

_ANY = None  # a set member meaning "every character"


class _Nfa:
    def __init__(self):
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[object, int]]] = []

    def state(self) -> int:
        self.eps.append([])
        self.moves.append([])
        return len(self.eps) - 1


class _Reader:
    def __init__(self, text: str, nfa: _Nfa):
        self.text, self.i, self.nfa, self.chars = text, 0, nfa, set()

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def union(self):
        start, end = self.nfa.state(), self.nfa.state()
        while True:
            s, e = self.concat()
            self.nfa.eps[start].append(s)
            self.nfa.eps[e].append(end)
            if self.peek() != "|":
                return start, end
            self.i += 1

    def concat(self):
        start = cur = self.nfa.state()
        while self.peek() not in ("", "|", ")"):
            s, e = self.repeat()
            self.nfa.eps[cur].append(s)
            cur = e
        return start, cur

    def repeat(self):
        s, e = self.atom()
        while self.peek() in ("*", "+", "?", "{"):
            op = self.peek()
            self.i += 1
            if op == "{":
                close = self.text.index("}", self.i)
                low, _, high = self.text[self.i : close].partition(",")
                self.i = close + 1
                copies = int(low) if low else 0
                if copies or high:
                    raise LuceneRegexpError("counted repetition: not needed by the pack's patterns")
            ns, ne = self.nfa.state(), self.nfa.state()
            self.nfa.eps[ns].append(s)
            self.nfa.eps[e].append(ne)
            if op in ("*", "?"):
                self.nfa.eps[ns].append(ne)
            if op in ("*", "+"):
                self.nfa.eps[e].append(s)
            s, e = ns, ne
        return s, e

    def edge(self, label):
        s, e = self.nfa.state(), self.nfa.state()
        self.nfa.moves[s].append((label, e))
        return s, e

    def atom(self):
        c = self.peek()
        self.i += 1
        if c == "(":
            s, e = self.union()
            if self.peek() != ")":
                raise LuceneRegexpError(f"unbalanced ( in {self.text!r}")
            self.i += 1
            return s, e
        if c == ".":
            return self.edge((True, frozenset()))
        if c == "[":
            return self.edge(self.klass())
        if c == "\\":
            c = self.peek()
            self.i += 1
        self.chars.add(c)
        return self.edge((False, frozenset(c)))

    def klass(self):
        negate = self.peek() == "^"
        self.i += negate
        members: set[str] = set()
        while self.peek() != "]":
            c = self.peek()
            self.i += 1
            if c == "\\":
                c = self.peek()
                self.i += 1
            if self.peek() == "-" and self.text[self.i + 1 : self.i + 2] not in ("]", ""):
                hi = self.text[self.i + 1]
                self.i += 2
                members.update(chr(x) for x in range(ord(c), ord(hi) + 1))
            else:
                members.add(c)
        self.i += 1
        self.chars.update(members)
        return (negate, frozenset(members))


def determinized_states(pattern: str, limit: int = 10_000) -> int:
    """States of the subset-construction DFA of `pattern` (stops counting past `limit`)."""
    nfa = _Nfa()
    reader = _Reader(pattern, nfa)
    start, _end = reader.union()
    if reader.i != len(pattern):
        raise LuceneRegexpError(f"unexpected {pattern[reader.i]!r} in {pattern!r}")
    alphabet = sorted(reader.chars) + ["\x00other"]  # one representative for the characters never named

    def accepts(label, c: str) -> bool:
        negate, members = label
        return (c not in members) if negate else (c in members)

    reach: list[frozenset] = []  # each NFA state's epsilon closure
    for state in range(len(nfa.eps)):
        seen, stack = {state}, [state]
        while stack:
            for nxt in nfa.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        reach.append(frozenset(seen))
    # per character of the alphabet, each NFA state's targets, already closed
    step = [[frozenset().union(*(reach[t] for label, t in nfa.moves[s] if accepts(label, c))) for s in range(len(nfa.eps))] for c in alphabet]

    first = reach[start]
    seen, todo = {first}, [first]
    while todo and len(seen) <= limit:
        current = todo.pop()
        for targets in step:
            nxt = frozenset().union(*(targets[s] for s in current))
            if nxt and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return len(seen)
