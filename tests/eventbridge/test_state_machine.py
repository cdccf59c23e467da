"""The real-time AWS path of every base rule, as shipped: the EventBridge rule's pattern (moto's matcher) and the
state machine's JSONata Choice (the reference `jsonata` implementation under Node, the expression taken from the
built CloudFormation template and Terraform data), together, decide exactly as the reference engine on every
fixture record, on case variants and hostile values of the fields the rules compare, and on generated records
(hypothesis)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from fixture_corpus import FIXTURE_FILES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.eventbridge.jsonata import regex_literal, regex_problem

from cloudtrail_pack.artifacts import eventbridge as eb
from cloudtrail_pack.engine.reference import ReferenceEngine
from release_helpers import release_for

from .conftest import moto_matches, wrap
from .jsonata_runner import evaluate, needs_jsonata

pytestmark = needs_jsonata
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped(pack, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """rule id -> (deployed event pattern, Choice condition), read from the built template; the Terraform data is
    checked to ship the same."""
    out = tmp_path_factory.mktemp("eventbridge")
    eb.write(release_for(pack, eb), out)
    doc = yaml.safe_load((out / eb.TEMPLATE_FILE).read_text(encoding="utf-8"))
    data = json.loads((out / "terraform" / "detections.json").read_text(encoding="utf-8"))
    result = {}
    for entry in doc["Metadata"]["CloudTrailDetectionPack"]["Rules"]:
        rule = doc["Resources"][entry["Resource"]]["Properties"]
        machine = doc["Resources"][entry["StateMachine"]]["Properties"]["Definition"]
        (choice,) = machine["States"]["MatchesTheRule"]["Choices"]
        tf = data[entry["Resource"].removesuffix("Rule")]
        assert tf["event_pattern"] == rule["EventPattern"]
        assert tf["definition"]["States"]["MatchesTheRule"]["Choices"] == [choice]
        condition = choice["Condition"]
        assert condition.startswith("{% ") and condition.endswith(" %}")
        result[entry["Id"]] = (rule["EventPattern"], condition[3:-3])
    return result


def decide(shipped: dict, events: list[dict]) -> dict[str, list[bool]]:
    """rule id -> per event: the pattern matches and the state machine's Choice is true."""
    ids = list(shipped)
    rows = evaluate([shipped[i][1] for i in ids], events)
    out = {}
    for rule_id, row in zip(ids, rows):
        assert all(isinstance(v, bool) for v in row), (rule_id, [v for v in row if not isinstance(v, bool)][:3])
        out[rule_id] = [moto_matches(shipped[rule_id][0], e) and v for e, v in zip(events, row)]
    return out


def mismatches(shipped: dict, reference: ReferenceEngine, records: list[dict]) -> list:
    verdict = reference.run(records)
    decided = decide(shipped, [wrap(r) for r in records])
    wrong = []
    for index, record in enumerate(records):
        expected = verdict.matches.get(str(record["eventID"]), frozenset())
        for rule_id, row in decided.items():
            if row[index] != (rule_id in expected):
                wrong.append((record.get("eventName"), rule_id, row[index]))
    return wrong


def test_every_fixture_record_is_decided_as_the_reference_decides(shipped, reference, pack):
    base = {r.id for r in pack.rules if r.rule.__class__.__name__ == "SigmaRule" and not r.step_only}  # a step: no rule
    assert set(shipped) == base
    records = [r for f in FIXTURE_FILES for r in f.records]
    assert mismatches(shipped, reference, records) == []
    fired = decide(shipped, [wrap(r) for r in records])
    assert all(any(row) for row in fired.values())  # every rule fires on its fixtures: the test can fail


def _variants(record: dict) -> list[dict]:
    """The fields the credential rules compare, re-spelled: actor and target in other letter cases, non-ASCII case
    pairs SQLite does not fold, quotes and backslashes, null, missing, a number, a boolean."""
    out = []
    ident = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    params = record.get("requestParameters") if isinstance(record.get("requestParameters"), dict) else {}
    name = params.get("userName") or ident.get("userName") or "alice"
    for actor, target in [
        (name.upper(), name.lower()), (name, name.swapcase()), ("Émile", "émile"), ("STRASSE", "straße"),
        ('a"b', 'A"B'), ("x\\y", "X\\Y"), (name, None), (None, name), (7, "7"), (True, "TRUE"), (name, name + " "),
    ]:
        variant = copy.deepcopy(record)
        variant["eventID"] = f"{record['eventID']}-{len(out)}"
        if actor is None:
            variant.setdefault("userIdentity", {}).pop("userName", None)
        else:
            variant.setdefault("userIdentity", {})["userName"] = actor
        variant["requestParameters"] = dict(params, userName=target)
        out.append(variant)
    return out


def test_case_variants_and_hostile_values_are_decided_as_the_reference_decides(shipped, reference):
    credential = {"DeleteAccessKey", "UpdateAccessKey", "DeleteLoginProfile", "UpdateLoginProfile", "DeactivateMFADevice"}
    records = [r for f in FIXTURE_FILES for r in f.records if r.get("eventName") in credential]
    variants = [v for r in records for v in _variants(r)]
    for r in records:  # the IAM user type in another case, and the deny-all document with quotes around it
        variants.append(dict(copy.deepcopy(r), eventID=r["eventID"] + "-t", userIdentity=dict(r.get("userIdentity") or {}, type="iamuser")))
    assert len(variants) > 100
    assert mismatches(shipped, reference, variants) == []


DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'


def _put_policy(document) -> dict:
    return {
        "eventVersion": "1.08", "eventID": "p", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": "PutUserPolicy", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/r/s"},
        "requestParameters": {"userName": "bob", "policyName": "p", "policyDocument": document},
    }


_names = st.one_of(
    st.none(), st.integers(-3, 3), st.booleans(),
    st.text(alphabet=st.sampled_from('aAbBéÉßİı "\\\n$%_*?{}'), max_size=6),
)
_documents = st.one_of(
    st.sampled_from([DENY_ALL, DENY_ALL.replace("Deny", "deny"), DENY_ALL.replace('"*"', '["s3:*", "*"]'),
                     DENY_ALL.replace(":", " :\t"), DENY_ALL.replace("}", ',"Condition":{}}'), "", "{}"]),
    st.text(alphabet=st.sampled_from('{}[]":*, \t\nEffectDnyAoRsur😀'), max_size=40),
    st.none(), st.integers(-(2**53), 2**53), st.booleans(),
)


@st.composite
def _records(draw):
    """Records around the rules with a field comparison or a regex: any actor type, actor and target names of
    any type and case, any policy document."""
    records = []
    for index in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["DeleteAccessKey", "UpdateAccessKey", "DeleteLoginProfile", "DeactivateMFADevice", "PutUserPolicy"]))
        record = _put_policy(draw(_documents))
        record.update(eventID=f"g{index}", eventName=kind)
        identity = {"type": draw(st.sampled_from(["IAMUser", "iamuser", "AssumedRole", "Root"])), "arn": "arn:aws:iam::1:user/x"}
        actor = draw(_names)
        if actor is not None or draw(st.booleans()):
            identity["userName"] = actor
        record["userIdentity"] = identity
        target = draw(_names)
        if target is None and draw(st.booleans()):
            record["requestParameters"].pop("userName")
        else:
            record["requestParameters"]["userName"] = target
        if kind == "UpdateAccessKey":
            record["requestParameters"]["status"] = draw(st.sampled_from(["Inactive", "INACTIVE", "Active", None]))
        records.append(record)
    return records


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(records=_records())
@example(records=[dict(_put_policy(DENY_ALL), eventID="e1")])
@example(records=[dict(_put_policy(DENY_ALL.replace('"*"', '"*" ')), eventID="e2")])
@example(records=[dict(_put_policy(DENY_ALL), eventID="e3", eventName="DeactivateMFADevice",
                       userIdentity={"type": "IAMUser", "userName": "Bob"})])
@example(records=[dict(_put_policy(DENY_ALL), eventID="e4", eventName="DeactivateMFADevice",
                       userIdentity={"type": "IAMUser", "userName": "bÉ"}, requestParameters={"userName": "Bé"})])
@example(records=[dict(_put_policy(DENY_ALL), eventID="e5", eventName="DeleteLoginProfile",
                       userIdentity={"type": "IAMUser", "userName": None}, requestParameters={})])
@example(records=[dict(_put_policy(DENY_ALL), eventID="e6", eventName="DeleteAccessKey",
                       userIdentity={"type": "IAMUser", "userName": 1}, requestParameters={"userName": 1.0})])
def test_generated_records_are_decided_as_the_reference_decides(shipped, reference, records):
    assert mismatches(shipped, reference, records) == []


# ---- the regex dialect ----------------------------------------------------------------------------------------


def test_the_shipped_regex_is_in_the_common_dialect(pack):
    rule = next(r for r in pack.rules if r.slug == "aws_iam_inline_deny_all_policy_put")
    (regex,) = [str(v.regexp) for item in rule.rule.detection.detections["selection"].detection_items
                if item.field == "requestParameters.policyDocument" for v in item.value]
    assert regex_problem(regex) is None


@pytest.mark.parametrize(
    "regex",
    [".", "a$", r"\d", r"\w", r"\s", r"\bx", "(?i)x", "(?=x)", "(?P<n>x)", "x{2}", "[^a]", "[^a]?", "é", "[a[b]", "[]", "a]",
     r"[\d]", "[^]", "[abc", "(?<=a)b"],
)
def test_regexes_read_differently_by_javascript_and_python_are_refused(regex):
    assert regex_problem(regex) is not None


@pytest.mark.parametrize("regex", ["a/b", r"\{[^{}]*\}", r"x\/y", "(?:a|b)+c*?", r"[\t ]*\[[^\]]*\]"])
def test_regexes_both_read_the_same_way_are_kept_and_parse_in_jsonata(regex):
    assert regex_problem(regex) is None
    literal = regex_literal(regex)
    (row,) = evaluate([f"$contains('a/b', {literal})"], [{}])
    assert isinstance(row[0], bool)


# ---- local filters ----------------------------------------------------------------------------------------------


def test_local_filters_keep_every_rule_deployed_and_exact(pack, tmp_path):
    """With the example filters (`build --filters filters/examples`), no event pattern can exclude a service's
    calls exactly (`not endswith '.amazonaws.com'` compares case-insensitively; anything-but has suffix or
    equals-ignore-case, not both), so every pattern widens and the Choice applies the filter: every base rule is
    still deployed, and pattern and Choice together decide as the reference engine with the same filters, on the
    fixtures and on the filtered fields in other letter cases."""
    from cloudtrail_pack.filters import load_filters
    from cloudtrail_pack.release.context import ReleaseOptions

    filters = load_filters(ROOT / "filters" / "examples", pack)
    release = release_for(pack, eb, options=ReleaseOptions(filters=filters))
    detections, refused = eb.collect(release)
    assert len(detections) == len([r for r in pack.rules if r.rule.__class__.__name__ == "SigmaRule" and not r.step_only])
    assert not [d.rule.slug for d in detections if d.exact]  # every rule carries a filter here
    shipped = {d.rule.id: (d.pattern.text(), d.condition) for d in detections}
    records = [r for f in FIXTURE_FILES for r in f.records]
    variants = []
    for r in records[:200]:
        for index, invoked_by in enumerate(["cloudformation.amazonaws.com", "CloudFormation.AmazonAWS.COM", "AWS Internal", "x.amazonaws.com.evil"]):
            identity = dict(r.get("userIdentity") or {}, invokedBy=invoked_by)
            variants.append(dict(copy.deepcopy(r), eventID=f"{r['eventID']}-i{index}", userIdentity=identity))
    filtered = ReferenceEngine(pack, filters=filters)
    assert mismatches(shipped, filtered, records + variants) == []
    assert sum(any(row) for row in decide(shipped, [wrap(r) for r in variants]).values()) > 0


_REGEX_PIECES = st.sampled_from(
    ["a", "b", "A", '"', " ", "\\*", "\\{", "\\}", "\\[", "\\]", "\\\\", "/", "\\/", "\\t", "\\n", "-", ":", ",",
     "[ab]", "[^a]*", "[^{}]+", "[\\t ]", "[^\\]]*", "(?:", "(", ")", "|", "*", "+", "?", "*?", "^"]
)
_SUBJECTS = st.text(alphabet=st.sampled_from('aAb" *{}[]\\/\t\n\r:,-😀é\u2028'), max_size=12)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(regexes=st.lists(st.lists(_REGEX_PIECES, min_size=1, max_size=8).map("".join), min_size=1, max_size=12),
       subjects=st.lists(_SUBJECTS, min_size=1, max_size=12))
@example(regexes=["[^a]*b", "a/b", "\\{[^{}]*\\}"], subjects=["😀b", "a/b", "{x}", "{\n}"])
def test_an_accepted_regex_matches_in_jsonata_as_in_python(regexes, subjects):
    """The dialect check's promise, for every regex it accepts: the JSONata literal the pack writes finds a match
    in exactly the strings where Python's `re.search` (the reference engine's REGEXP) does."""
    import re

    kept = []
    for regex in regexes:
        try:
            re.compile(regex)
        except re.error:
            continue
        if regex_problem(regex) is None:
            kept.append(regex)
    if not kept:
        return
    rows = evaluate([f"$contains($states.input.s, {regex_literal(r)})" for r in kept], [{"s": s} for s in subjects])
    for regex, row in zip(kept, rows):
        assert row == [re.search(regex, s) is not None for s in subjects], regex
