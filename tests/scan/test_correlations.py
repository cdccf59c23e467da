"""The one-pass correlation sweep (engine/correlate.py) agrees with the reference engine's correlation
plans, and stays linear on a long burst."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.engine.correlate import Store
from cloudtrail_pack.engine.plan import ScanPlan
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.engine.results import Alert, Summary
from cloudtrail_pack.inputs import walk
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.scan import _correlations, _Worker, scan

from .helpers import MASS_DELETION, jsonl, record, s3, write

PACK = load_pack(Path(__file__).resolve().parents[2] / "sigma")
REFERENCE = ReferenceEngine(PACK)
CORRELATIONS = {r.id for r in PACK.rules if r.is_correlation}


def test_every_correlation_of_the_pack_is_swept():
    assert {s.rule_id for s in PLAN.sweeps} == CORRELATIONS and PLAN.fallback is None


PLAN = ScanPlan.build(PACK)
WORKER = _Worker(PLAN)


def scanned_alerts(folder: Path) -> set:
    """What scan reports, the plan compiled once: a worker's rows, the store, the sweep."""
    store = Store(PLAN.sweeps)
    try:
        for path, _ in walk([folder]):
            for _, counted, _ in WORKER.scan(path).frames():
                store.add(counted)
        alerts = list(_correlations(PLAN, store, [], Summary()))
    finally:
        store.close()
    return {(m.rule_id, tuple(sorted(m.group.items())), frozenset(m.events)) for m in alerts}


def reference_alerts(records: list[dict]) -> set:
    return {(r, g, e) for r, g, e in REFERENCE.run(records).incidents() if r in CORRELATIONS}


CALLS = ["DeleteUser", "DeleteLoginProfile", "DeleteAccessKey", "DeactivateMFADevice", "RemoveUserFromGroup",
         "UpdateAccessKey", "GetUser"]
events = st.lists(
    st.tuples(
        st.sampled_from(CALLS),
        st.sampled_from(["ops", "OPS", "admin", "ci"]),  # the principal's user name (case differs: one group)
        st.sampled_from(["alice", "Alice", "bob", "carol", "dave", "ops", None]),  # the target user
        st.integers(0, 40 * 60),  # seconds into the hour: windows of 10 minutes overlap or not
        st.sampled_from(["", ".123", "garbage"]),
    ),
    max_size=40,
)


def _burst(*steps):
    """(call, principal, target, second, suffix) tuples, as the strategy draws them."""
    return list(steps)


# The window's edges, which random draws almost never hit (a `<` made `<=` at the window start passed the
# suite): the first and last counted events exactly one timespan (600 s) apart, also in milliseconds, and one
# second more, for each kind of correlation of the pack.
EDGES = [
    _burst(("DeleteUser", "ops", "alice", 0, ""), ("DeleteUser", "ops", "bob", 300, ""), ("DeleteUser", "ops", "carol", 600, "")),
    _burst(("DeleteUser", "ops", "alice", 0, ""), ("DeleteUser", "ops", "bob", 300, ""), ("DeleteUser", "ops", "carol", 601, "")),
    _burst(("DeleteUser", "ops", "alice", 0, ".123"), ("DeleteUser", "OPS", "bob", 1, ""), ("DeleteUser", "ops", "carol", 600, ".123")),
    _burst(("DeleteLoginProfile", "ops", "alice", 0, ""), ("DeactivateMFADevice", "ops", "bob", 270, ""),
           ("UpdateAccessKey", "ops", "carol", 600, "")),
    _burst(("DeleteLoginProfile", "ops", "alice", 0, ""), ("DeactivateMFADevice", "ops", "bob", 270, ""),
           ("UpdateAccessKey", "ops", "carol", 601, "")),
    _burst(("DeleteAccessKey", "ops", "alice", 0, ""), ("DeleteUser", "ops", "alice", 600, "")),
    _burst(("DeleteAccessKey", "ops", "alice", 0, ""), ("DeleteUser", "ops", "alice", 601, "")),
    _burst(("DeleteAccessKey", "ops", "alice", 0, ".123"), ("DeleteUser", "ops", "Alice", 600, ".123")),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=events)
@example(events=EDGES[0])
@example(events=EDGES[1])
@example(events=EDGES[2])
@example(events=EDGES[3])
@example(events=EDGES[4])
@example(events=EDGES[5])
@example(events=EDGES[6])
@example(events=EDGES[7])
def test_sweep_agrees_with_the_reference_on_generated_bursts(tmp_path_factory, events):
    records = []
    for i, (call, who, target, second, suffix) in enumerate(events):
        time_ = f"2026-03-01T10:{second // 60:02d}:{second % 60:02d}{suffix}Z" if suffix != "garbage" else "garbage"
        params = {"userName": target} if target is not None else {}
        if call == "UpdateAccessKey":
            params["status"] = "Inactive"
        records.append(record(call, f"e{i}", time=time_, arn=f"arn:aws:iam::111122223333:user/{who}",
                              requestParameters=params, userIdentity={"type": "IAMUser", "userName": who,
                                                                      "arn": f"arn:aws:iam::111122223333:user/{who}"}))
    folder = tmp_path_factory.mktemp("burst")
    write(folder / "a.json", s3(records))
    assert scanned_alerts(folder) == reference_alerts(records)


def test_a_long_burst_by_one_principal_is_swept_in_linear_time(tmp_path):
    """20,000 deletions by one principal in five minutes: one incident holding every one of them (the
    reference's plan is quadratic on this; the sweep takes seconds)."""
    n = 20000
    records = [record(event_id=f"e{i}", time=f"2026-03-01T10:0{(i * 300 // n) // 60}:{(i * 300 // n) % 60:02d}Z",
                      requestParameters={"userName": f"user-{i}"}) for i in range(n)]
    write(tmp_path / "burst.json.gz", s3(records), gz=True)
    summary = Summary()
    start = time.perf_counter()
    alerts = [m for m in scan([tmp_path], PACK, jobs=1, summary=summary) if isinstance(m, Alert)]
    seconds = time.perf_counter() - start
    mass = [a for a in alerts if a.rule_id == MASS_DELETION]
    assert len(mass) == 1 and mass[0].event_count == n
    assert mass[0].first_eventTime == "2026-03-01T10:00:00Z" and mass[0].last_eventTime == "2026-03-01T10:04:59Z"
    assert seconds < 60, seconds


def test_events_with_unreadable_times_are_left_out_as_the_reference_leaves_them(tmp_path):
    records = [record(event_id=f"e{i}", time=t, requestParameters={"userName": f"u{i}"})
               for i, t in enumerate(["2026-03-01T10:00:00Z", "not a time", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"])]
    write(tmp_path / "a.jsonl", jsonl(records))
    assert scanned_alerts(tmp_path) == reference_alerts(records) != set()
