"""Every rule against every fixture record, judged by the reference engine (SQLite via pySigma's SQLite
backend) and compared with the manifest exactly: each expected match, and no other."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest

import rule_facts as facts
from fixture_corpus import FIXTURE_FILES, FIXTURES, MANIFEST

ids = [str(f.path) for f in FIXTURE_FILES]
MANIFEST_LINES = MANIFEST.read_text(encoding="utf-8").splitlines() if MANIFEST.exists() else []


def manifest_line(text: str) -> str:
    """fixtures/manifest.yml:N, N the first line holding `text` (an eventID, a file's key)."""
    number = next((i for i, line in enumerate(MANIFEST_LINES, 1) if text in line), 0)
    return f"fixtures/manifest.yml:{number}"


def named(pack, rule_id: str) -> str:
    rule = next((r for r in pack.rules if r.id == rule_id), None)
    return f"{rule.title} ({rule_id}, {rule.path})" if rule else rule_id


def test_manifest_lists_every_fixture_file():
    on_disk = {
        p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file() and p.name != "manifest.yml" and p.suffix != ".md"
    }
    listed = {f.path for f in FIXTURE_FILES}
    assert on_disk == listed, (
        f"fixtures/manifest.yml: add an entry under `files:` for {sorted(map(str, on_disk - listed))}; "
        f"remove the entries of missing files {sorted(map(str, listed - on_disk))}"
    )


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_declared_format_is_the_files_format(fixture):
    from cloudtrail_pack.records import read_file

    assert read_file(FIXTURES / fixture.path).format == fixture.format


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_manifest_lists_every_record_of_the_file(fixture):
    in_file = {str(r["eventID"]) for r in fixture.records}
    assert sorted(in_file) == sorted(fixture.expect), (
        f"{manifest_line(str(fixture.path) + ':')}: list every record of {fixture.path} under its `expect` "
        f"(missing: {sorted(in_file - set(fixture.expect))}; not in the file: {sorted(set(fixture.expect) - in_file)})"
    )


def test_no_fixture_holds_a_placeholder_left_to_fill():
    """`cloudtrail-pack new-rule` marks what the author must write with TODO (the records' request parameters, the
    look-alike's call, the files' descriptions): none may stay, in the manifest or in a fixture file."""
    from cloudtrail_pack.cli.new_rule import PLACEHOLDER

    left = [f"fixtures/manifest.yml:{n}: {line.strip()}" for n, line in enumerate(MANIFEST_LINES, 1) if PLACEHOLDER in line]
    for f in FIXTURE_FILES:
        data = (FIXTURES / f.path).read_bytes()
        text = (gzip.decompress(data) if f.path.suffix == ".gz" else data).decode("utf-8")
        left += [f"fixtures/{f.path}:{n}: {line.strip()[:120]}" for n, line in enumerate(text.splitlines(), 1) if PLACEHOLDER in line]
    assert not left, "write what these lines ask for:\n" + "\n".join(left)


def test_event_ids_are_unique_across_the_corpus():
    counts = Counter(str(r["eventID"]) for f in FIXTURE_FILES for r in f.records)
    assert [k for k, n in counts.items() if n > 1] == []


def test_manifest_names_only_rules_of_the_pack(pack):
    known = {r.id for r in pack.rules}
    used = {rid for f in FIXTURE_FILES for rids in f.expect.values() for rid in rids}
    used |= {a.rule_id for f in FIXTURE_FILES for a in f.alerts}
    assert used <= known, [f"{manifest_line(rid)}: no rule of sigma/ has the id {rid}" for rid in sorted(used - known)]


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_rules_match_exactly_the_declared_records(fixture, reference, pack):
    """Each difference says which line of the manifest to change (or that the rule is wrong)."""
    verdict = reference.run(fixture.records)
    problems = []
    for event_id in sorted(fixture.expect):
        got, declared = verdict.matches.get(event_id, frozenset()), fixture.expect[event_id]
        for rule_id in sorted(got - declared):
            problems.append(f"{manifest_line(event_id)}: {named(pack, rule_id)} matches {event_id} of {fixture.path}: "
                            f"add {rule_id} to that record's list if it should, else narrow the rule")
        for rule_id in sorted(declared - got):
            problems.append(f"{manifest_line(event_id)}: {named(pack, rule_id)} does not match {event_id} of "
                            f"{fixture.path}: fix the rule, or remove {rule_id} from that record's list")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_correlations_raise_exactly_the_declared_alerts(fixture, reference, pack):
    verdict = reference.run(fixture.records)
    expected = {(a.rule_id, a.group, a.events) for a in fixture.alerts}
    got = verdict.incidents()
    where = manifest_line(str(fixture.path) + ":")
    problems = [
        f"{where}: {named(pack, rule_id)} raises an alert on {fixture.path} the manifest does not declare: add under "
        f"its `alerts:` - rule: {rule_id}, group: {dict(group)}, events: {sorted(events)}"
        for rule_id, group, events in sorted(got - expected)
    ] + [
        f"{where}: the declared alert of {named(pack, rule_id)} (group {dict(group)}, events {sorted(events)}) is not raised"
        for rule_id, group, events in sorted(expected - got)
    ]
    assert not problems, "\n".join(problems)


def test_every_rule_has_attacks_and_lookalikes_in_two_formats(pack):
    """Coverage the issue asks for, read off the manifest: each detection fires in at least two delivery
    formats, and in at least two formats there are look-alikes for it -- records of the same service or
    the same event name that the manifest says it must not match. Each correlation raises an alert."""
    problems = []
    for rule in pack.rules:
        if rule.is_correlation:
            if not any(a.rule_id == rule.id for f in FIXTURE_FILES for a in f.alerts):
                problems.append(f"{rule.path}: {rule.title}: no fixture raises it; add records that do, and the alert "
                                f"under that file's `alerts:` in fixtures/manifest.yml")
            continue
        attacks = [(f.format, r) for f in FIXTURE_FILES for r in f.records if rule.id in f.expect[str(r["eventID"])]]
        names = {r["eventName"] for _, r in attacks}
        sources = {r["eventSource"] for _, r in attacks}
        lookalikes = {
            f.format
            for f in FIXTURE_FILES
            for r in f.records
            if rule.id not in f.expect[str(r["eventID"])] and (r["eventName"] in names or r["eventSource"] in sources)
        }
        formats = sorted({fmt for fmt, _ in attacks})
        if len(formats) < 2:
            problems.append(f"{rule.path}: {rule.title}: records it must match are in {formats or 'no fixture'}; add "
                            f"them in at least two formats (s3 .json, s3-gzip .json.gz, jsonl, eventbridge) under "
                            f"fixtures/, each listed with the rule's id {rule.id} in fixtures/manifest.yml")
        if len(lookalikes) < 2:
            problems.append(f"{rule.path}: {rule.title}: look-alikes (same eventName or eventSource, must stay silent) "
                            f"are in {sorted(lookalikes) or 'no fixture'}; add them in at least two formats, listed "
                            f"with [] in fixtures/manifest.yml")
    assert not problems, "\n".join(problems)


IAM_USER_DELETED = "0b40a563-9611-430c-ac03-6536096733f9"


def test_other_services_deleteuser_calls_are_fixtures_the_iam_rule_ignores():
    """ElastiCache, MemoryDB, QuickSight, Transfer Family and Identity Store have a DeleteUser too; the IAM
    rule stays silent on them (the Identity Store's is the IAM Identity Center rule's)."""
    silent = {
        r["eventSource"]
        for f in FIXTURE_FILES
        for r in f.records
        if r["eventName"] == "DeleteUser" and IAM_USER_DELETED not in f.expect[str(r["eventID"])]
    }
    assert {
        "elasticache.amazonaws.com",
        "memorydb.amazonaws.com",
        "quicksight.amazonaws.com",
        "transfer.amazonaws.com",
        "identitystore.amazonaws.com",
    } <= silent


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_global_service_records_are_in_us_east_1(fixture):
    for record in fixture.records:
        if record["eventSource"] in ("iam.amazonaws.com", "organizations.amazonaws.com"):
            assert record["awsRegion"] == "us-east-1", record["eventID"]


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=ids)
def test_records_are_shaped_as_cloudtrail_writes_them(fixture):
    for record in fixture.records:
        assert tuple(map(int, record["eventVersion"].split("."))) >= (1, 8), record["eventID"]
        assert {"type", "principalId"} <= set(record["userIdentity"]) or record["userIdentity"]["type"] == "AWSService"
        for key in ("eventTime", "eventSource", "eventName", "awsRegion", "eventID", "eventType", "recipientAccountId"):
            assert key in record, (record["eventID"], key)
        if "errorCode" in record:
            assert record.get("responseElements") is None, record["eventID"]


def _self_service(record: dict) -> bool:
    """An IAM user acting on itself: requestParameters.userName its own name (IAM ignores case) or absent."""
    identity, target = record["userIdentity"], (record.get("requestParameters") or {}).get("userName")
    return identity["type"] == "IAMUser" and (target is None or target.lower() == identity.get("userName", "").lower())


def test_rules_with_a_self_service_exclusion_have_self_service_lookalikes_and_other_user_attacks_in_two_formats(pack):
    """Who did it to whom: for each rule that leaves out an IAM user acting on itself (its detection compares
    requestParameters.userName with userIdentity.userName), IAM users acting on themselves stay silent and IAM
    users acting on another user alert, each in at least two delivery formats (issue 11)."""
    rules = [r for r in pack.rules if facts.has_self_service_filter(r.rule)]
    assert rules  # the credential rules
    problems = []
    for rule in rules:
        calls = facts.event_calls(rule.rule)
        silent, alerting = set(), set()
        for f in FIXTURE_FILES:
            for r in f.records:
                if (r["eventSource"], r["eventName"]) not in calls or r["userIdentity"]["type"] != "IAMUser":
                    continue
                matched = rule.id in f.expect[str(r["eventID"])]
                if _self_service(r):
                    if matched:
                        problems.append(f"{manifest_line(str(r['eventID']))}: {rule.title} must not match an IAM user on itself")
                    silent.add(f.format)
                elif matched:
                    alerting.add(f.format)
        if len(silent) < 2 or len(alerting) < 2:
            problems.append(
                f"{rule.path}: {rule.title}: add IAM users acting on themselves (silent, in {sorted(silent)} so far) and "
                f"on another user (alerting, in {sorted(alerting)} so far) in at least two formats each, in fixtures/ "
                f"and fixtures/manifest.yml"
            )
    assert not problems, "\n".join(problems)


def test_declared_differences_name_a_target_a_rule_the_record_involves_and_a_reason(pack, reference):
    """A `differences:` entry reverses a target's expected verdict on one record for the rules it names (tests use
    FixtureFile.expected_for): it must name a target of the pack, a record of its file, rules of the pack that the
    reference matches there or the manifest lists for it, and a reason."""
    from cloudtrail_pack.registry import TARGETS

    problems = []
    for f in FIXTURE_FILES:
        verdict = reference.run(f.records) if f.differences else None
        for event_id, known in f.differences.items():
            where = manifest_line(event_id)
            if event_id not in f.expect:
                problems.append(f"{where}: {event_id} under `differences:` is not a record of {f.path}")
                continue
            for d in known:
                if d.target not in TARGETS:
                    problems.append(f"{where}: no target {d.target!r}; the targets are {', '.join(TARGETS)}")
                involved = verdict.matches.get(event_id, frozenset()) | f.expect[event_id]
                problems += [f"{where}: {named(pack, r)} neither matches {event_id} nor is listed for it" for r in sorted(d.rules - involved)]
                if not d.rules or len(d.reason.split()) < 5:
                    problems.append(f"{where}: a difference names the rules it concerns and says why (a cited reason)")
    assert not problems, "\n".join(problems)
