"""What the evaluators read out of JSON records alike: leaf values by dotted path, ISO 8601 times, numbers
written as text. How a platform names array elements, and what it makes of the values, stays each
evaluator's own."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timezone


def leaves(record: dict, element: Callable[[str, int], str]) -> Iterator[tuple[str, object]]:
    """(path, value) of every leaf of a JSON record, in document order: object keys joined with `.`, the
    `index`th element of an array at `element(path, index)`. JSON null is an absent field (no leaf)."""

    def walk(value, name: str):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, f"{name}.{k}" if name else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, element(name, i))
        elif value is not None:
            yield name, value

    return walk(record, "")


def iso_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or time (`Z` for UTC; UTC when it names no offset), or None if `text` is not one."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def finite_number(text: str) -> float | None:
    """The number a text is written as, or None (not a number, or infinite or NaN)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
