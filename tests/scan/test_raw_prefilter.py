"""Rules that pin no event name are tested on a record's raw bytes first (engine/prefilter.py,
`required_literals`/`RawTests`): a record is decoded and judged only if its bytes hold the literals a
match needs. These tests check what is derived, and that scan still agrees with the reference engine
when a literal is spelled with a JSON escape, sits inside an object, or its record holds non-ASCII."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule

from cloudtrail_pack.engine.plan import ScanPlan
from cloudtrail_pack.engine.prefilter import required_literals
from cloudtrail_pack.literal_search import RawTests
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.scan import _Worker

ROOT = Path(__file__).resolve().parents[2]


def rule(detection: dict, rule_id: str = "00000000-0000-4000-8000-000000000001", title: str = "Test rule") -> dict:
    return {"title": title, "id": rule_id, "status": "test", "description": "A test rule.",
            "author": "tests", "date": "2026-01-01", "tags": ["attack.t1078"], "level": "low",
            "logsource": {"product": "aws", "service": "cloudtrail"}, "detection": detection,
            "falsepositives": ["none"]}


def literals(detection: dict):
    return required_literals(SigmaRule.from_dict(rule(detection)))


def test_equal_values_of_one_selection_are_all_required():
    sel = {"userIdentity.type": "AssumedRole", "eventSource": "sts.amazonaws.com"}
    assert literals({"selection": sel, "condition": "selection"}) == (frozenset({b"assumedrole", b"sts.amazonaws.com"}),)


def test_a_run_inside_another_required_run_is_dropped():
    sel = {"userIdentity.type": "AssumedRole", "userIdentity.sessionContext.sessionIssuer.type": "Role"}
    assert literals({"selection": sel, "condition": "selection"}) == (frozenset({b"assumedrole"}),)


def test_either_selection_gives_two_alternatives():
    det = {"a": {"userAgent|contains": "TruffleHog"}, "b": {"userAgent|contains": "kali"}, "condition": "a or b"}
    assert literals(det) == (frozenset({b"trufflehog"}), frozenset({b"kali"}))


def test_a_negated_selection_requires_nothing():
    assert literals({"a": {"userIdentity.type": "Root"}, "condition": "not a"}) is None


def test_regex_literals_at_the_top_level_are_required():
    det = {"a": {"userIdentity.arn|re": ".+:assumed-role/aws:.+"}, "condition": "a"}
    assert literals(det) == (frozenset({b"assumed-role/aws"}),)


def test_regex_literals_are_read_from_the_pattern_as_written():
    # `\\*` is a literal star to the regex engine: "foo*bar" is required, not "fo" and "bar"
    assert literals({"a": {"userAgent|re": "foo\\*bar"}, "condition": "a"}) == (frozenset({b"foo*bar"}),)


def test_a_case_insensitive_regex_requires_nothing():
    assert literals({"a": {"userIdentity.arn|re|i": "assumed-role"}, "condition": "a"}) is None


def test_numbers_and_number_like_text_require_nothing():
    # a number's text differs between the record (1e5) and what the engine compares (100000.0)
    assert literals({"a": {"requestParameters.maxResults": 100000}, "condition": "a"}) is None
    assert literals({"a": {"requestParameters.x|contains": "1e5"}, "condition": "a"}) is None


def test_an_escape_or_non_ascii_byte_lets_every_rule_through():
    tests = RawTests({"r": (frozenset({b"assumedrole"}),)})
    assert tests(b'{"type":"iamuser"}') == frozenset()
    assert tests(b'{"type":"\\u0061ssumedrole"}') == frozenset({"r"})
    assert tests('{"type":"iamuser","n":"\u00e9"}'.encode()) == frozenset({"r"})


# ---- scan agrees with the reference engine ------------------------------------------------------------
RULES = {
    "assumed": ({"selection": {"userIdentity.type": "AssumedRole",
                               "userIdentity.sessionContext.sessionIssuer.type": "Role"},
                 "condition": "selection"}, "00000000-0000-4000-8000-00000000000a"),
    "regex": ({"selection": {"userIdentity.arn|re": ".+:assumed-role/aws:.+"},
               "filter": {"eventSource": "ssm.amazonaws.com"},
               "condition": "selection and not filter"}, "00000000-0000-4000-8000-00000000000b"),
    "object": ({"selection": {"requestParameters|contains": "secret-name"}, "condition": "selection"},
               "00000000-0000-4000-8000-00000000000c"),
    "agent": ({"selection": {"userAgent|contains": "TruffleHog"}, "condition": "selection"},
              "00000000-0000-4000-8000-00000000000d"),
}
OURS = {rule_id for _, rule_id in RULES.values()}


def _pack():
    folder = Path(tempfile.mkdtemp(prefix="raw-prefilter-"))
    shutil.copytree(ROOT / "sigma", folder / "sigma")
    for name, (detection, rule_id) in RULES.items():
        text = yaml.safe_dump(rule(detection, rule_id, f"Raw prefilter {name}"), sort_keys=False)
        (folder / "sigma" / "zz_tests" / f"{name}.yml").parent.mkdir(exist_ok=True)
        (folder / "sigma" / "zz_tests" / f"{name}.yml").write_text(text)
    return folder, load_pack(folder / "sigma")


FOLDER, PACK = _pack()
PLAN = ScanPlan.build(PACK)
WORKER = _Worker(PLAN)
REFERENCE = ReferenceEngine(PACK)


def test_the_pack_with_these_rules_decodes_only_what_some_rule_may_match():
    assert PLAN.event_names is not None and set(PLAN.literals) == OURS


# a value, and how its raw bytes spell it: plainly, or with its first letter as a \u escape
values = st.sampled_from(["AssumedRole", "assumedrole", "ASSUMEDROLE", "IAMUser", "Root", "AWSService"])
arns = st.sampled_from(["arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1", "arn:aws:sts::1:assumed-role/app/i-1",
                        "arn:aws:sts::1:ASSUMED-ROLE/AWS:x/y", "arn:aws:iam::1:user/jdoe"])
params = st.one_of(st.none(), st.sampled_from(["secret-name", "Secret-Name", "other"]).map(lambda v: {"name": {"id": v}}),
                   st.just(["secret-name"]), st.just("secret-name"))
agents = st.sampled_from(["TruffleHog", "trufflehog/3.0 \u00e9", "aws-cli/2", "Truffle\\Hog"])
records = st.lists(st.tuples(values, st.sampled_from(["Role", "role", "IAMUser"]), arns, params, agents,
                             st.sampled_from(["GetCallerIdentity", "DeleteUser", "Decrypt"]),
                             st.sampled_from(["sts.amazonaws.com", "ssm.amazonaws.com"]),
                             st.sampled_from(["", "type", "arn", "userAgent", "name"])), min_size=1, max_size=12)

ESCAPES = {"type": (b"ssumedRole", b"\\u0073sumedRole"), "arn": (b"assumed-role/aws", b"assumed-role\\/aws"),
           "userAgent": (b"TruffleHog", b"Truffle\\u0048og"), "name": (b"secret-name", b"secret\\u002dname")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_scan_agrees_with_the_reference_however_the_literal_is_spelled(rows):
    lines, decoded = [], []
    for i, (kind, issuer, arn, request, agent, name, source, escape) in enumerate(rows):
        r = {"eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": source, "eventName": name,
             "eventID": f"e{i}", "awsRegion": "us-east-1", "userAgent": agent, "requestParameters": request,
             "userIdentity": {"type": kind, "arn": arn, "sessionContext": {"sessionIssuer": {"type": issuer}}}}
        raw = json.dumps(r, ensure_ascii=False).encode()
        if escape:
            plain, spelled = ESCAPES[escape]
            raw = raw.replace(plain, spelled, 1)
        lines.append(raw)
        decoded.append(json.loads(raw))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        result = WORKER.scan(str(path))
        found: dict[str, set] = {}
        for matches, _, _ in result.frames():
            for m in matches:
                if m.rule_id in OURS:
                    found.setdefault(m.eventID, set()).add(m.rule_id)
    expected = {e: set(ids) & OURS for e, ids in REFERENCE.run(decoded).matches.items() if set(ids) & OURS}
    assert result.bad == 0 and found == expected
