"""What a scan reports, whichever engine computes it: a detection (`Match`), a correlation alert (`Alert`) and
the run's accounting (`Summary`), each written here once. An engine hands over the record's values and the
rule; the report's fields, the principal, how a value is shown and how a file's problems are counted are
decided here, so the default and the Spark engines cannot drift apart (the tests compare their output
byte for byte).

`scan` writes each report as one JSON object (`as_dict()`, keys sorted; README "Backtesting").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import msgspec

PROBLEMS_KEPT = 50  # problems listed per file; the rest are counted
HEAD_FIELDS = ("eventID", "eventTime", "eventSource", "eventName")  # reported as the record has them
SHOWN_FIELDS = ("sourceIPAddress", "errorCode", "recipientAccountId")  # reported through shown()
IDENTITY_FIELDS = ("arn", "invokedBy", "principalId", "type")  # userIdentity's, the first present names the principal
#: Every field a detection report reads of its record, as dotted paths (what the Spark engine selects).
REPORTED_FIELDS = (*HEAD_FIELDS, *SHOWN_FIELDS, *(f"userIdentity.{k}" for k in IDENTITY_FIELDS))


class RuleInfo(msgspec.Struct, frozen=True):
    """What a report says about its rule."""

    id: str
    title: str
    level: str
    correlation: str | None = None  # the correlation type, for correlation rules

    @classmethod
    def of(cls, rule) -> "RuleInfo":
        """From a `pack.PackRule`."""
        return cls(rule.id, rule.title, rule.level, rule.rule.type.name.lower() if rule.is_correlation else None)


class Match(msgspec.Struct, array_like=True, gc=False):
    """One record matched by one detection rule."""

    rule_id: str
    rule_title: str
    level: str
    eventID: str
    eventTime: str
    eventSource: str
    eventName: str
    principal: Any
    sourceIPAddress: Any
    errorCode: Any
    recipientAccountId: Any
    file: str

    @classmethod
    def of(cls, rule: RuleInfo, record: Mapping, file: str) -> "Match":
        get = record.get
        return cls(
            rule.id, rule.title, rule.level,
            get("eventID"), get("eventTime"), get("eventSource"), get("eventName"),
            shown(principal(record)), shown(get("sourceIPAddress")), shown(get("errorCode")),
            shown(get("recipientAccountId")), file,
        )

    def as_dict(self) -> dict:
        return msgspec.structs.asdict(self)


class Alert(msgspec.Struct, array_like=True):
    """One incident of a correlation rule: a group's events, overlapping windows merged."""

    rule_id: str
    rule_title: str
    level: str
    correlation: str
    group: dict
    events: list
    event_count: int
    first_eventTime: str
    last_eventTime: str

    def as_dict(self) -> dict:
        return msgspec.structs.asdict(self)


def alerts(rules: Mapping[str, RuleInfo], incidents: Iterable[tuple[str, tuple, Iterable[str], str, str]]) -> Iterator[Alert]:
    """Alerts of (rule id, group as sorted (field, value) pairs, event ids, first and last eventTime), in
    the order every engine reports them: by rule, group, then events."""
    for rule_id, group, events, first, last in sorted(incidents, key=lambda i: (i[0], i[1], sorted(i[2]))):
        rule = rules[rule_id]
        events = sorted(events)
        yield Alert(rule_id, rule.title, rule.level, rule.correlation, dict(group), events, len(events), first, last)


def principal(record: Mapping) -> Any:
    """Who acted: the first of userIdentity's IDENTITY_FIELDS that is set."""
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return None
    for key in IDENTITY_FIELDS:
        value = identity.get(key)
        if value:
            return value
    return identity.get(IDENTITY_FIELDS[-1])


def nested(columns: Mapping[str, Any]) -> dict:
    """A record as `Match.of` reads it, from its REPORTED_FIELDS given as dotted-path columns."""
    record = {k: columns.get(k) for k in (*HEAD_FIELDS, *SHOWN_FIELDS)}
    record["userIdentity"] = {k: columns.get(f"userIdentity.{k}") for k in IDENTITY_FIELDS}
    return record


def shown(value):
    """A record's field as a report holds it: a JSON string, number, boolean or null as it is; an object,
    an array or an integer outside 64 bits as its JSON text, so that every report can be written (orjson
    refuses those, and nesting past 255 levels)."""
    if value is None or value.__class__ in (str, bool, float):
        return value
    if value.__class__ is int and -(1 << 63) <= value < (1 << 64):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (RecursionError, TypeError, ValueError, OverflowError):
        return f"({type(value).__name__} that cannot be shown)"


def left_out(where: str, why: str, correlations: Iterable[str]) -> str:
    """The problem reported for a matched record a correlation cannot count (its time is not a time...)."""
    return (f"{where}: {why}: left out of the correlations ({'; '.join(sorted(correlations))}); "
            "its own detections are reported")


def titled(pack, reasons: Mapping[str, str]) -> dict[str, str]:
    """{rule title: why it is not evaluated} from {rule id: why}, in rule id order."""
    return {pack.by_id(rule_id).title: why for rule_id, why in sorted(reasons.items())}


@dataclass
class Summary:
    """What a scan read, skipped and reported; the CLI prints it on standard error."""

    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): input not read
    unsupported: dict[str, str] = field(default_factory=dict)  # rule title -> why it was not evaluated
    events: int = 0
    parsed: int = 0
    matches: Counter = field(default_factory=Counter)  # reports handed out, per rule id
    seconds: float = 0.0
    bad_records: int = 0  # records or lines skipped inside files that were read
    counted: int = 0  # events the correlations counted
    interrupted: bool = False
    stopped: str | None = None  # why the scan ended early ("Ctrl-C", "SIGTERM", "the output closed"...)
    partial: int = 0  # files counted that were read only in part (the scan stopped inside them)

    def reported(self, report: Match | Alert) -> None:
        self.matches[report.rule_id] += 1

    def input_skipped(self, path: str, reason: str) -> None:
        """An input named or found that is not a file read (a missing path, a FIFO, an empty folder...)."""
        self.skipped.append((path, reason))

    def file_unread(self, path: str, reason: str) -> None:
        """A file none of which could be read."""
        self.files += 1
        self.skipped.append((path, reason))

    def file_read(self, path: str, events: int, parsed: int, problems: list[str], bad: int | None = None) -> None:
        """A file read to its end: its records, and each of its `bad` records or lines not read (the first
        PROBLEMS_KEPT of them named by `problems`, the rest counted)."""
        bad = len(problems) if bad is None else bad
        self.files += 1
        self.events += events
        self.parsed += parsed
        self.bad_records += bad
        kept = problems[:PROBLEMS_KEPT]
        self.skipped.extend((path, problem) for problem in kept)
        if bad > len(kept):
            self.skipped.append((path, f"and {bad - len(kept)} more records not read"))

    def file_partial(self, events: int, parsed: int) -> None:
        """The file the scan stopped inside, with what was read of it."""
        self.files += 1
        self.events += events
        self.parsed += parsed
        self.partial += 1

    def record_skipped(self, path: str, problem: str) -> None:
        """One record of a file read, left out (named with the reason)."""
        self.bad_records += 1
        self.skipped.append((path, problem))
