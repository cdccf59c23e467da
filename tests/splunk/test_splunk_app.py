"""The Splunk app writer: conf files spelled out, the package's determinism, what is left out and why."""

from __future__ import annotations

import gzip
import json
import tarfile
import textwrap
from pathlib import Path

import pytest
from evaluators.spl import parse_conf
from release_helpers import release_for

from cloudtrail_pack.artifacts import splunk as writer
from cloudtrail_pack.artifacts.splunk import schedule
from cloudtrail_pack.pack import PackError, load_pack
from cloudtrail_pack.project import Project

from .conftest import tar_listing

VERSION = Project.find(Path(__file__)).version  # the version being released (pyproject.toml)
USER_DELETED = "0b40a563-9611-430c-ac03-6536096733f9"
MASS_DELETION = "d7e97f60-0265-437d-82c5-a8489994eda7"


def test_savedsearches_stanza_for_one_rule(pack):
    (s,) = [s for s in writer.saved_searches(release_for(pack, writer))[0] if s.rule.id == USER_DELETED]
    assert writer.conf_stanza(s.name, {**s.settings, "search": s.search}) == textwrap.dedent(
        """\
        [CloudTrail - AWS IAM User Deleted - Rule]
        action.correlationsearch.annotations = {"mitre_attack": ["T1531"]}
        action.correlationsearch.enabled = 1
        action.correlationsearch.label = AWS IAM User Deleted
        action.notable = 1
        action.notable.param.drilldown_searches = [{"name": "View the CloudTrail events of $userIdentity.arn$ on $requestParameters.userName$", "search": "`cloudtrail_detection_pack_cloudtrail` (userIdentity.arn=\\"$userIdentity.arn$\\" AND requestParameters.userName=\\"$requestParameters.userName$\\")", "earliest_offset": "$info_min_time$", "latest_offset": "$info_max_time$"}, {"name": "View the risk events of $principal_arn$ in the last 7 days", "search": "index = risk starthoursago = 168 endhoursago = 0 | stats count values(search_name) values(risk_message) values(analyticstories) values(annotations._all) values(annotations.mitre_attack.mitre_tactic) by principal_arn | search principal_arn = $principal_arn$"}]
        action.notable.param.nes_fields = userIdentity.arn,requestParameters.userName,recipientAccountId
        action.notable.param.rule_description = Detects an attempt to delete an IAM user, successful or not (check errorCode). Deleting a legitimate user removes its owner's access to the account (T1531 Account Access Removal), which disrupts response and recovery and hides who was using the identity; a denied attempt is reconnaissance of what the caller may delete. Only IAM's DeleteUser matches: ElastiCache, MemoryDB, QuickSight, Transfer Family and IAM Identity Center have DeleteUser calls of their own. Access removal or indicator removal: find the user's CreateUser event (same requestParameters.userName) and its age. A user that existed long before and was created by someone else is a person's or a workload's access taken away (T1531). A user created recently by the same principal that now deletes it is the actor removing its own backdoor (T1070 Indicator Removal): the AWS IAM User Created Then Deleted by the Same Principal correlation alerts on that within 24 hours; for an older user, search CloudTrail (Athena, CloudTrail Lake: the hunting query of AWS IAM User Created) for its creation.
        action.notable.param.rule_title = AWS IAM User Deleted by $userIdentity.arn$ on $requestParameters.userName$ in account $recipientAccountId$ ($outcome$)
        action.notable.param.security_domain = access
        action.notable.param.severity = medium
        action.risk = 1
        action.risk.param._risk = [{"risk_object_field": "principal_arn", "risk_object_type": "user", "risk_score": 60}, {"risk_object_field": "requestParameters.userName", "risk_object_type": "user", "risk_score": 60}, {"risk_object_field": "recipientAccountId", "risk_object_type": "other", "risk_score": 60}, {"threat_object_field": "sourceIPAddress", "threat_object_type": "ip_address"}]
        action.risk.param._risk_message = AWS IAM User Deleted by $userIdentity.arn$ on $requestParameters.userName$ in account $recipientAccountId$ ($outcome$)
        action.risk.param._risk_score = 0
        action.risk.param.verbose = 0
        alert.digest_mode = 0
        alert.severity = 4
        alert.suppress = 1
        alert.suppress.fields = userIdentity.arn,requestParameters.userName,errorCode,recipientAccountId
        alert.suppress.period = 1h
        alert.track = 1
        allow_skew = 1m
        counttype = number of events
        cron_schedule = 5-59/10 * * * *
        description = Detects an attempt to delete an IAM user, successful or not (check errorCode). Deleting a legitimate user removes its owner's access to the account (T1531 Account Access Removal), which disrupts response and recovery and hides who was using the identity; a denied attempt is reconnaissance of what the caller may delete. Only IAM's DeleteUser matches: ElastiCache, MemoryDB, QuickSight, Transfer Family and IAM Identity Center have DeleteUser calls of their own. Access removal or indicator removal: find the user's CreateUser event (same requestParameters.userName) and its age. A user that existed long before and was created by someone else is a person's or a workload's access taken away (T1531). A user created recently by the same principal that now deletes it is the actor removing its own backdoor (T1070 Indicator Removal): the AWS IAM User Created Then Deleted by the Same Principal correlation alerts on that within 24 hours; for an older user, search CloudTrail (Athena, CloudTrail Lake: the hunting query of AWS IAM User Created) for its creation. False positives: Offboarding by identity administrators or an identity-lifecycle automation (SCIM, Terraform, CloudFormation stack deletion); baseline the principals that normally delete users. The AWS Systems Manager runbook AWSConfigRemediation-DeleteIAMUser, which deletes unused users. A principal deleting a user it created itself (test users, a typo fixed at once) is not access removal; when the creator is not a known administrator or pipeline, treat it as indicator removal (T1070) and scope what the user did while it existed. (Sigma rule 0b40a563-9611-430c-ac03-6536096733f9, level medium.)
        disabled = 1
        dispatch.earliest_time = -25h@h
        dispatch.index_earliest = -12m@m
        dispatch.index_latest = -2m@m
        dispatch.latest_time = now
        enableSched = 1
        quantity = 0
        realtime_schedule = 0
        relation = greater than
        request.ui_dispatch_app = search
        request.ui_dispatch_view = search
        schedule_window = auto
        search = `cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\\
        | eval principal_arn=coalesce('userIdentity.sessionContext.sessionIssuer.arn', 'userIdentity.arn')\\
        | table eventTime,userIdentity.type,userIdentity.arn,sourceIPAddress,userAgent,requestParameters.userName,errorCode,errorMessage,recipientAccountId,principal_arn\\
        | eval outcome=if(isnull(errorCode), "succeeded", "denied or failed")\\
        | `cloudtrail_detection_pack_aws_iam_user_deleted_filter`
        """
    )


def test_correlation_stanza_reads_every_event_indexed_before_its_window_and_reports_each_window_once(savedsearches):
    """Each event read once, tagged new (indexed in the run's index window) or old; a window that meets the
    condition is reported unless a window of the old events alone met it within the timespan (schedule.py)."""
    stanza = savedsearches["CloudTrail - AWS IAM Mass User Deletion - Rule"]
    rule = '(eventSource="iam.amazonaws.com" AND eventName="DeleteUser")'
    assert stanza["search"] == (
        "| multisearch\n"
        f"    [search `cloudtrail_detection_pack_cloudtrail` _index_earliest=-12m@m _index_latest=-2m@m {rule} | eval sigma_new=1]\n"
        f"    [search `cloudtrail_detection_pack_cloudtrail` _index_latest=-12m@m {rule} | eval sigma_old=1]\n"
        "| sort 0 _time\n"
        "| streamstats count as sigma_row\n"
        "| streamstats time_window=10m count as event_count, count(sigma_old) as sigma_old_event_count by userIdentity.arn\n"
        "| eval sigma_old_hit=if(sigma_old==1 AND (sigma_old_event_count >= 3), 1, null())\n"
        "| streamstats time_window=10m count(sigma_old_hit) as sigma_old_before by userIdentity.arn\n"
        "| sort 0 -_time, -sigma_row\n"
        "| streamstats time_window=10m count(sigma_old_hit) as sigma_old_after by userIdentity.arn\n"
        "| where (event_count >= 3) AND sigma_old_before==0 AND sigma_old_after==0\n"
        "| eval principal_arn=coalesce('userIdentity.sessionContext.sessionIssuer.arn', 'userIdentity.arn')\n"
        "| `cloudtrail_detection_pack_aws_iam_user_deleted_mass_filter`"
    )
    # the index bounds are the search's own: the old events are read too, over 24 h + 12 min + twice the timespan
    assert "dispatch.index_earliest" not in stanza and "dispatch.index_latest" not in stanza
    assert (stanza["dispatch.earliest_time"], stanza["dispatch.latest_time"]) == ("-25h@h", "now")
    assert stanza["alert.suppress.fields"] == "userIdentity.arn"
    assert stanza["alert.severity"] == "5"


def test_the_searches_are_spread_over_the_ten_minutes(savedsearches):
    """Not 17 searches on the same minute (issue 20): each on its own minute of the ten, as evenly as the count
    allows (at most ceil(n / 10) per minute: two for up to 20 searches), and allow_skew spreads each over its
    minute."""
    minutes = [int(s["cron_schedule"].split("-")[0]) for s in savedsearches.values()]
    assert all(s["cron_schedule"] == f"{m}-59/10 * * * *" for m, s in zip(minutes, savedsearches.values()))
    assert sorted(set(minutes)) == list(range(10))
    assert max(minutes.count(m) for m in minutes) == -(-len(minutes) // 10)
    assert {s["allow_skew"] for s in savedsearches.values()} == {"1m"}


# --- Enterprise Security: notable and risk events --------------------------------------------------------

MASS_STANZA = "CloudTrail - AWS IAM Mass User Deletion - Rule"


def test_correlation_notable_names_the_principal_and_its_account(savedsearches):
    stanza = savedsearches[MASS_STANZA]
    assert stanza["action.notable.param.rule_title"] == (
        "AWS IAM Mass User Deletion by $userIdentity.arn$ in account $recipientAccountId$"
    )
    assert json.loads(stanza["action.notable.param.drilldown_searches"]) == [
        {
            "name": "View the CloudTrail events of $userIdentity.arn$",
            "search": '`cloudtrail_detection_pack_cloudtrail` userIdentity.arn="$userIdentity.arn$"',
            "earliest_offset": "$info_min_time$",
            "latest_offset": "$info_max_time$",
        },
        {
            "name": "View the risk events of $principal_arn$ in the last 7 days",
            "search": "index = risk starthoursago = 168 endhoursago = 0 | stats count values(search_name) values(risk_message) "
            "values(analyticstories) values(annotations._all) values(annotations.mitre_attack.mitre_tactic) by principal_arn "
            "| search principal_arn = $principal_arn$",
        },
    ]
    assert stanza["action.notable.param.severity"] == "high"


def test_drilldowns_are_es_7_drilldown_searches_only(savedsearches):
    """ES 7+'s list (contentctl's format), not the legacy single drilldown_name/_search parameters (issue 20)."""
    for stanza in savedsearches.values():
        assert not [k for k in stanza if k.startswith("action.notable.param.drilldown_") and k != "action.notable.param.drilldown_searches"]
        searches = json.loads(stanza["action.notable.param.drilldown_searches"])
        assert [sorted(d) for d in searches] == [["earliest_offset", "latest_offset", "name", "search"], ["name", "search"]]


RISK = {
    "AWS IAM User Access Key Deleted or Deactivated": [
        ("principal_arn", "user", 40), ("requestParameters.userName", "user", 40), ("recipientAccountId", "other", 40)
    ],
    "AWS IAM User Deleted": [
        ("principal_arn", "user", 60), ("requestParameters.userName", "user", 60), ("recipientAccountId", "other", 60)
    ],
    "AWS IAM User Console Password Deleted or Reset": [
        ("principal_arn", "user", 60), ("requestParameters.userName", "user", 60), ("recipientAccountId", "other", 60)
    ],
    "AWS IAM User MFA Device Deactivated": [
        ("principal_arn", "user", 60), ("requestParameters.userName", "user", 60), ("recipientAccountId", "other", 60)
    ],
    "AWS Account Removed From the Organization": [
        ("principal_arn", "user", 60), ("requestParameters.accountId", "other", 60), ("recipientAccountId", "other", 60)
    ],
    "AWS Account Left the Organization": [("principal_arn", "user", 80), ("recipientAccountId", "other", 80)],
    "AWS IAM Mass User Deletion": [("principal_arn", "user", 80), ("recipientAccountId", "other", 80)],
}


@pytest.mark.parametrize("label", sorted(RISK))
def test_risk_objects_are_actor_target_and_account(savedsearches, label):
    (stanza,) = [s for s in savedsearches.values() if s["action.correlationsearch.label"] == label]
    assert stanza["action.risk"] == "1"
    assert json.loads(stanza["action.risk.param._risk"]) == [
        {"risk_object_field": f, "risk_object_type": t, "risk_score": score} for f, t, score in RISK[label]
    ] + [{"threat_object_field": "sourceIPAddress", "threat_object_type": "ip_address"}]


def test_risk_fields_are_in_the_results_of_every_search(savedsearches):
    """ES can only score a field the search returns: a base search returns its `| table` fields."""
    for stanza in savedsearches.values():
        table = [line for line in stanza["search"].split("\n") if line.startswith("| table ")]
        if table:
            returned = set(table[0][len("| table ") :].split(","))
            risk = json.loads(stanza["action.risk.param._risk"])
            fields = {o.get("risk_object_field") or o["threat_object_field"] for o in risk}
            assert fields <= returned


@pytest.mark.parametrize(
    "level, severity, score",
    [("informational", "informational", 20), ("low", "low", 40), ("medium", "medium", 60), ("high", "high", 80),
     ("critical", "critical", 100)],
)
def test_sigma_level_to_notable_severity_and_risk_score(level, severity, score):
    assert (writer.NOTABLE_SEVERITY[level], writer.RISK_SCORE[level]) == (severity, score)


def alerting(pack):
    """The rules the app has a search for: every rule the Splunk target compiles but a correlation step."""
    return [r for r in pack.rules if not r.step_only]


def test_every_search_creates_a_notable_in_the_access_domain(pack, savedsearches):
    assert {s["action.notable"] for s in savedsearches.values()} == {"1"}
    assert {s["action.notable.param.security_domain"] for s in savedsearches.values()} == {"access"}
    by_label = {s["action.correlationsearch.label"]: s for s in savedsearches.values()}
    assert {r.title: by_label[r.title]["action.notable.param.severity"] for r in alerting(pack)} == {
        r.title: r.level for r in alerting(pack)
    }


def test_outcome_is_part_of_every_base_suppression_key(pack, savedsearches):
    """A denied attempt must not suppress the later successful call on the same target."""
    by_label = {s["action.correlationsearch.label"]: s for s in savedsearches.values()}
    for rule in alerting(pack):
        if not rule.is_correlation:
            assert "errorCode" in by_label[rule.title]["alert.suppress.fields"].split(",")


def test_searches_never_skip_a_scheduled_run(savedsearches):
    """realtime_schedule = 0: continuous scheduling never skips a period (savedsearches.conf.spec)."""
    assert {s["realtime_schedule"] for s in savedsearches.values()} == {"0"}


def test_dollar_in_a_title_is_refused(pack, tmp_path):
    """ES reads $name$ in a notable title as a field token."""
    root = tmp_path / "sigma"
    (root / "iam").mkdir(parents=True)
    source = (pack.root.parent / pack.by_id(USER_DELETED).path).read_text()
    (root / "iam" / "deleted.yml").write_text(source.replace("title: AWS IAM User Deleted", "title: AWS IAM $ User Deleted", 1))
    with pytest.raises(PackError, match=r"holds '\$'"):
        writer.app_files(release_for(load_pack(root), writer), "9.9.9")


@pytest.mark.parametrize(
    "level, severity", [("informational", 2), ("low", 3), ("medium", 4), ("high", 5), ("critical", 6)]
)
def test_sigma_level_to_alert_severity(level, severity):
    assert writer.SEVERITY[level] == severity


def test_every_rule_is_a_disabled_scheduled_alert_with_its_attack_technique(pack, savedsearches):
    assert len(savedsearches) == len(alerting(pack))
    by_label = {s["action.correlationsearch.label"]: s for s in savedsearches.values()}
    for rule in alerting(pack):
        stanza = by_label[rule.title]
        assert stanza["disabled"] == "1" and stanza["enableSched"] == "1"
        assert stanza["alert.severity"] == str(writer.SEVERITY[rule.level])
        techniques = [t.name.upper() for t in rule.rule.tags if t.namespace == "attack" and t.name.startswith("t")]
        assert json.loads(stanza["action.correlationsearch.annotations"]) == {"mitre_attack": techniques}
        assert stanza["search"].endswith(f"| `cloudtrail_detection_pack_{rule.slug}_filter`")


def test_shipped_searches_are_the_compiled_searches(pack, savedsearches):
    """The compiled search (a correlation's as scheduled), with the principal and a base rule's outcome field."""
    from cloudtrail_pack.compilation import compile_rules
    from cloudtrail_pack.registry import TARGETS

    shipped = {
        writer.with_outcome(schedule.scheduled_correlation(q[0]) if pack.by_id(rule_id).is_correlation else q[0], pack.by_id(rule_id))
        for rule_id, q in compile_rules(pack, TARGETS["splunk"], rules=alerting(pack)).items()
    }
    assert {s["search"] for s in savedsearches.values()} == shipped


def test_the_outcome_field_says_whether_the_call_succeeded(savedsearches):
    from evaluators.spl import SplunkEvaluator

    stanza = savedsearches["CloudTrail - AWS IAM User Deleted - Rule"]
    evaluator = SplunkEvaluator({"cloudtrail_detection_pack_cloudtrail": "*", "cloudtrail_detection_pack_aws_iam_user_deleted_filter": "search *"})
    base = {"eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}
    records = [{**base, "eventID": "ok"}, {**base, "eventID": "denied", "errorCode": "AccessDenied"}]
    rows = evaluator.run(stanza["search"], records)
    assert [r.first("outcome") for r in rows] == ["succeeded", "denied or failed"]


def test_correlation_searches_carry_no_outcome(savedsearches):
    stanza = savedsearches["CloudTrail - AWS IAM Mass User Deletion - Rule"]
    assert "outcome" not in stanza["search"] and "$outcome$" not in stanza["action.notable.param.rule_title"]


def test_macros_conf_has_the_scope_and_one_empty_filter_per_search(pack, app_members):
    macros = parse_conf(app_members["default/macros.conf"].decode())
    scope = "cloudtrail_detection_pack_cloudtrail"
    assert macros[scope]["definition"] == "(index=aws sourcetype=aws:cloudtrail)"
    filters = {name: m["definition"] for name, m in macros.items() if name != scope}
    # namespaced like the scope macro (issue 20): ESCU exports `<detection>_filter` macros system-wide too
    assert filters == {f"cloudtrail_detection_pack_{r.slug}_filter": "search *" for r in alerting(pack)}
    assert all(m["iseval"] == "0" for m in macros.values())


def test_no_exported_macro_takes_escu_s_cloudtrail_name(app_members):
    """The app exports its macros system-wide; ESCU exports `cloudtrail`: one would override the other."""
    assert parse_conf(app_members["metadata/default.meta"].decode())[""]["export"] == "system"
    assert "cloudtrail" not in parse_conf(app_members["default/macros.conf"].decode())


def test_scope_macro_carries_the_app_id():
    assert writer.SCOPE_MACRO == f"{writer.APP_ID}_cloudtrail"


def test_app_conf_carries_the_pack_version(app_members):
    conf = parse_conf(app_members["default/app.conf"].decode())
    assert conf["id"] == {"name": "cloudtrail_detection_pack", "version": VERSION}
    assert conf["package"]["id"] == "cloudtrail_detection_pack"
    assert conf["launcher"]["version"] == VERSION
    assert conf["ui"]["label"] == "CloudTrail Detection Pack"
    assert conf["launcher"]["description"] == writer.APP_DESCRIPTION


def test_app_manifest_matches_app_conf(app_members):
    manifest = json.loads(app_members["app.manifest"])
    assert manifest["info"]["id"] == {"group": None, "name": "cloudtrail_detection_pack", "version": VERSION}
    assert manifest["targetWorkloads"] == ["_search_heads"]


def test_default_meta_exports_read_only_to_users(app_members):
    assert parse_conf(app_members["metadata/default.meta"].decode()) == {
        "": {"access": "read : [ * ], write : [ admin, sc_admin ]", "export": "system"}
    }


def test_readme_lists_every_search_and_its_macro(pack, app_members):
    text = app_members["README.md"].decode()
    for rule in alerting(pack):
        assert f"`cloudtrail_detection_pack_{rule.slug}_filter`" in text and rule.id in text
    for rule in pack.rules:
        if rule.step_only:  # no search: listed with the reason
            assert f"- `{rule.id}` {rule.title}: {writer.STEP_ONLY}" in text


def test_app_files(app_members):
    assert sorted(app_members) == [
        "README.md",
        "app.manifest",
        "default/app.conf",
        "default/macros.conf",
        "default/savedsearches.conf",
        "metadata/default.meta",
    ]


# --- the package ---------------------------------------------------------------------------------------


def test_tarball_name_and_bytes_are_reproducible(pack, splunk_app, tmp_path):
    again = writer.write_splunk_app(release_for(pack, writer), tmp_path)
    assert again.name == splunk_app.name == f"cloudtrail_detection_pack-{VERSION}.tgz"
    assert again.read_bytes() == splunk_app.read_bytes()


def test_gzip_header_has_no_name_and_no_time(splunk_app):
    header = splunk_app.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08" and header[3] == 0  # FLG: no FNAME
    assert header[4:8] == b"\0\0\0\0"  # MTIME 0
    gzip.decompress(splunk_app.read_bytes())


def test_tar_entries_sorted_with_fixed_metadata(splunk_app):
    members = tar_listing(splunk_app.read_bytes())
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[0] == "cloudtrail_detection_pack"
    assert {"cloudtrail_detection_pack/default", "cloudtrail_detection_pack/metadata"} <= set(names)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "root", "root")
        assert m.mode == (0o755 if m.isdir() else 0o644)
        assert m.isdir() or m.isfile()


def test_tar_is_ustar(splunk_app):
    raw = gzip.decompress(splunk_app.read_bytes())
    assert raw[257:263] == b"ustar\x00"
    with tarfile.open(fileobj=__import__("io").BytesIO(raw)) as tar:
        assert not any(m.pax_headers for m in tar.getmembers())


# --- conf values ---------------------------------------------------------------------------------------


def test_conf_value_line_breaks_round_trip():
    text = writer.conf_stanza("s", {"search": 'a="x y"\n| table a\n| `f`'})
    assert parse_conf(text) == {"s": {"search": 'a="x y"\n| table a\n| `f`'}}


def test_conf_value_refuses_a_line_ending_in_backslash():
    with pytest.raises(ValueError):
        writer.conf_value('a="x\\\\"\\\n| b')


def test_conf_value_refuses_carriage_return():
    with pytest.raises(ValueError):
        writer.conf_value("a\rb")


# --- rules the Splunk target cannot express ------------------------------------------------------------

KEYWORD_RULE = """\
title: Keyword Rule
id: 6a1f0d3e-5b2c-4e8f-9a7d-1c2b3e4f5a6b
name: keyword_rule
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    keywords:
        - DeleteUser
    condition: keywords
level: low
"""


def test_unexpressible_rule_is_left_out_and_named_in_readme(pack, tmp_path):
    root = tmp_path / "sigma"
    (root / "iam").mkdir(parents=True)
    (root / "iam" / "keyword_rule.yml").write_text(KEYWORD_RULE)
    source = pack.root.parent / pack.by_id(USER_DELETED).path  # the user-deleted rule and its correlation
    (root / "iam" / "deleted.yml").write_text(source.read_text())
    small = load_pack(root)
    files = writer.app_files(release_for(small, writer), "9.9.9")
    stanzas = parse_conf(files["default/savedsearches.conf"].decode())
    assert [s["action.correlationsearch.label"] for s in stanzas.values()] == ["AWS IAM User Deleted", "AWS IAM Mass User Deletion"]
    readme = files["README.md"].decode()
    assert "## Rules without a Splunk search" in readme
    assert "`6a1f0d3e-5b2c-4e8f-9a7d-1c2b3e4f5a6b` Keyword Rule: splunk_cloudtrail: keyword" in readme
    assert "cloudtrail_detection_pack_keyword_rule_filter" not in files["default/macros.conf"].decode()


@pytest.mark.parametrize(
    "identity, principal",
    [
        ({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ci-deploy/session-1",
          "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/ci-deploy"}}},
         "arn:aws:iam::111122223333:role/ci-deploy"),
        ({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"}, "arn:aws:iam::111122223333:user/ops"),
        ({"type": "Root", "arn": "arn:aws:iam::111122223333:root"}, "arn:aws:iam::111122223333:root"),
    ],
    ids=["role session: the role", "IAM user", "root"],
)
def test_risk_is_scored_on_the_role_not_the_session(savedsearches, shipped_evaluator, identity, principal):
    """Issue 20: `userIdentity.arn` of a role session names the session, so risk split per session; the shipped search
    gives ES the session issuer (the role) as `principal_arn`, the caller's own ARN otherwise."""
    stanza = savedsearches["CloudTrail - AWS IAM User Deleted - Rule"]
    record = {
        "eventVersion": "1.10", "eventID": "e", "eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": "DeleteUser", "sourceIPAddress": "198.51.100.7", "recipientAccountId": "111122223333",
        "userIdentity": identity, "requestParameters": {"userName": "alice"},
    }
    (row,) = shipped_evaluator.run(stanza["search"], [record])
    assert (row.first("principal_arn"), row.first("sourceIPAddress")) == (principal, "198.51.100.7")
