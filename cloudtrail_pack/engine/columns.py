"""A record's value for one column of the reference engine's table, read without building the table:
what `reference.flatten(record)[name]` would hold, for the matcher's predicates and the correlation sweep's
group keys."""

from __future__ import annotations

import json
from typing import Callable


def leaf_value(v):
    """A non-string JSON value as `reference.flatten` + sqlite3 store it."""
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, list):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v.__class__ is float and v != v:  # SQLite stores NaN as NULL
        return None
    return v


_MISSING = object()


def column_getter(name: str) -> Callable[[dict], object]:
    """The value `reference.flatten(record)[name]` would hold (None for NULL or absent).

    flatten() writes `prefix + key` for every key in order, recursing into objects, so a column can
    come from several places when keys contain dots ({"a.b": 1} and {"a": {"b": 2}} both write "a.b");
    the last write wins. The fast path walks the path after checking that no dotted key could
    compete; otherwise the exact search runs.
    """
    parts = name.split(".")
    n = len(parts)
    # candidates[i]: (j, key) for every key at depth i whose flattened name is a prefix of `name`
    candidates = [[(j, ".".join(parts[i:j])) for j in range(i + 1, n + 1)] for i in range(n)]
    dotted = [tuple(k for j, k in candidates[i] if j > i + 1) for i in range(n)]

    def exact(obj: dict, i: int):
        best = _MISSING
        present = [(j, k) for j, k in candidates[i] if k in obj]
        if len(present) > 1:
            order = {k: pos for pos, k in enumerate(obj)}
            present.sort(key=lambda jk: order[jk[1]])
        for j, k in present:
            v = obj[k]
            if j == n:
                best = v if v.__class__ is str or v is None else leaf_value(v)
            elif isinstance(v, dict):
                found = exact(v, j)
                if found is not _MISSING:
                    best = found
        return best

    def slow(record: dict):
        v = exact(record, 0)
        return None if v is _MISSING else v

    if n == 1:

        def get(record: dict):
            v = record.get(name)
            if v is None or v.__class__ is str:
                return v
            return leaf_value(v)

        return get

    head, last = parts[:-1], parts[-1]
    walk = list(zip(head, dotted[:-1]))

    def get(record: dict):
        obj = record
        for key, competitors in walk:
            for k in competitors:
                if k in obj:
                    return slow(record)
            obj = obj.get(key)
            if obj.__class__ is not dict:
                if isinstance(obj, dict):  # a dict subclass: let the exact search handle it
                    return slow(record)
                return None
        v = obj.get(last)
        if v is None or v.__class__ is str:
            return v
        return leaf_value(v)

    return get
