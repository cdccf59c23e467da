"""CloudWatch artifacts against their real validators: cfn-lint for the template, botocore's service models
(CloudWatch Logs, CloudWatch) for the query definitions, metric filters and alarms, and byte determinism.

Every test runs on stand-ins built from each rule without the backend (`stand-in`, carrying text the backend
never writes), and again on the CloudWatch backend's own output (`backend`).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from botocore.session import get_session
from botocore.validate import ParamValidator
from release_helpers import release_for
from sigma.backends.cloudwatch import limits

from cloudtrail_pack.pack import pack_version
from cloudtrail_pack.artifacts import cloudwatch as cw
from cloudtrail_pack.pack import PackError

STACK_PARAMS = {
    "LogGroupName": "aws-cloudtrail-logs-123456789012-0a1b2c3d",
    "NotificationEmail": "",
    "AWS::StackName": "cloudtrail-detections",
    "AlertTopic": "arn:aws:sns:us-east-1:123456789012:cloudtrail-detections-AlertTopic-0A1B2C3D4E5F",
}
EXPECTED_PARAMETERS = {
    "LogGroupName",
    "NotificationEmail",
    "AlarmThreshold",
    "AlarmPeriodSeconds",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "MetricNamespace",
}


@cache
def service_model(name: str):
    return get_session().get_service_model(name)


def model_problems(value, shape, where: str = "") -> list[str]:
    """botocore's ParamValidator (types, required members, minimum lengths) plus what it leaves to the
    server: maximum lengths and counts, patterns and enums from the same model."""
    problems = []
    if not where:
        report = ParamValidator().validate(value, shape)
        if report.has_errors():
            problems.append(report.generate_report())
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                problems += model_problems(item, shape.members[key], f"{where}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} items, max {meta['max']}")
        for i, item in enumerate(value):
            problems += model_problems(item, shape.member, f"{where}[{i}]")
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} characters, max {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.S):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']!r}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} not one of {shape.enum}")
    return problems


def input_shape(service: str, operation: str):
    return service_model(service).operation_model(operation).input_shape


def read_template(cloudwatch_dir) -> tuple[str, dict]:
    text = (cloudwatch_dir / cw.TEMPLATE_FILE).read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def resolve(value, params):
    """Substitute Ref and Fn::Sub with stack parameter values, as CloudFormation would at deploy time."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return params[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(params[m.group(1)]), value["Fn::Sub"])
        return {k: resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    return value


def stack_params(doc: dict) -> dict:
    params = {name: p["Default"] for name, p in doc["Parameters"].items() if "Default" in p}
    return {**params, **STACK_PARAMS}


# --- the limits the writer assumes are the models' -------------------------------------------------------


def test_limits_are_the_api_models_limits():
    pqd = input_shape("logs", "PutQueryDefinition").members
    pmf = input_shape("logs", "PutMetricFilter").members
    alarm = input_shape("cloudwatch", "PutMetricAlarm").members
    assert limits.QUERY_STRING_MAX_LENGTH == pqd["queryString"].metadata["max"]
    assert limits.QUERY_DEFINITION_NAME_MAX_LENGTH == pqd["name"].metadata["max"]
    assert limits.FILTER_PATTERN_MAX_LENGTH == pmf["filterPattern"].metadata["max"]
    assert limits.ALARM_DESCRIPTION_MAX_LENGTH == alarm["AlarmDescription"].metadata["max"]
    assert re.fullmatch(pqd["logGroupNames"].member.metadata["pattern"], cw.LOG_GROUP_PLACEHOLDER)


def test_alarm_window_limits_are_those_the_put_metric_alarm_model_states():
    """The model states the Period x EvaluationPeriods bounds only in prose: read the numbers from it."""
    doc = input_shape("cloudwatch", "PutMetricAlarm").members["Period"].documentation
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\b\d{1,3}(?:,\d{3})+\b", doc)]
    assert numbers == [
        limits.ALARM_EVALUATION_MAX_SECONDS,
        limits.ALARM_SHORT_PERIOD_SECONDS,
        limits.ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS,
    ]
    assert "Period</code> multiplied by <code>EvaluationPeriods" in doc


def test_writer_declares_no_limit_of_its_own():
    """Limits are stated once, in sigma.backends.cloudwatch.limits."""
    assert not [name for name in vars(cw) if name.endswith(("_MAX", "_MAX_LENGTH")) and not hasattr(limits, name)]


# --- Logs Insights query files ---------------------------------------------------------------------------


def test_one_query_file_per_rule_with_header_then_query(cloudwatch_dir, detections):
    files = sorted((cloudwatch_dir / "queries").glob("*.logsinsights"))
    assert [f.stem for f in files] == sorted(d.rule.slug for d in detections)
    for d in detections:
        text = (cloudwatch_dir / "queries" / f"{d.rule.slug}.logsinsights").read_text(encoding="utf-8")
        header, _, body = text.partition("\n\n")
        lines = header.splitlines()
        assert all(line.startswith("# ") for line in lines), "Logs Insights comments start with #"
        assert lines[0] == f"# {d.rule.title}"
        assert f"# id: {d.rule.id}" in lines and f"# level: {d.rule.level}" in lines
        assert f"# description: {d.description}" in lines
        assert any(line.startswith("# ATT&CK: T") for line in lines)
        assert body == d.query.rstrip("\n") + "\n"


def test_each_correlation_query_says_it_counts_fixed_buckets(cloudwatch_dir, detections):
    """The Logs Insights correlations bin @timestamp into fixed buckets (stats ... bin(timespan)); the file header
    says so with the rule's own timespan, so nobody reads the query as Sigma's sliding window. Base rules say
    nothing of a window."""
    correlations = 0
    for d in detections:
        text = (cloudwatch_dir / "queries" / f"{d.rule.slug}.logsinsights").read_text(encoding="utf-8")
        header, _, body = text.partition("\n\n")
        window = [line for line in header.splitlines() if line.startswith("# window: ")]
        if not d.rule.is_correlation:
            assert window == [], d.rule.slug
            continue
        correlations += 1
        span = d.rule.rule.timespan.spec
        assert f"bin({span})" in body, d.rule.slug
        (line,) = window
        assert f"fixed {span} bucket" in line and f"not Sigma's sliding {span} window" in line, line
    assert correlations >= 1


def test_the_deploy_guide_shows_the_real_query_file(real_detections):
    """docs/cloudwatch-deploy.md says its example is real build output: it is, byte for byte, for this version
    (it once showed 0.2.0's header)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cloudwatch-deploy.md").read_text(encoding="utf-8")
    name = "aws_iam_user_deleted.logsinsights"
    after = doc.split(f"`queries/{name}` (real build output)", 1)[1]
    shown = after.split("```\n", 2)[1]
    (d,) = [d for d in real_detections if d.rule.slug == "aws_iam_user_deleted"]
    from cloudtrail_pack.project import Project

    # the version a release of this checkout carries (pyproject.toml), not the installed metadata's, which an
    # editable install keeps from when it was made
    assert shown == cw.query_file_text(d, Project.at(Path(__file__).resolve().parents[2]).version)


def test_descriptions_are_whole_rule_descriptions(real_detections):
    """A YAML block description spans lines; the artifacts use all of it, not its first line."""
    removed = next(d for d in real_detections if d.rule.slug == "aws_organizations_account_removed")
    assert removed.description == (
        "Detects the management account (the only account AWS lets make this call) removing a member account from the AWS "
        "Organization, successful or not (check errorCode). The removed account is no longer bound by the "
        "organization's service control policies and central security services (T1666 Modify Cloud Resource "
        "Hierarchy); an attacker in the management account can free an account this way."
    )


def test_alarm_descriptions_end_with_whole_sentences_of_the_rule(cloudwatch_dir, detections):
    _, doc = read_template(cloudwatch_dir)
    alarms = {r["Properties"]["MetricName"]: r["Properties"] for r in doc["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    names = cw.logical_names([d.rule for d in detections])
    for d in (d for d in detections if d.filter_pattern is not None):
        for suffix, says, _ in cw.OUTCOMES:
            text = alarms[names[d.rule.id] + suffix]["AlarmDescription"]
            head = f"{d.rule.title} | {says} | level: {d.rule.level} | Sigma rule id: {d.rule.id} | saved query: {d.name} | "
            assert text.startswith(head) and len(text) <= limits.ALARM_DESCRIPTION_MAX_LENGTH
            sentences = cw.sentences(d.description)
            shown = cw.sentences(text[len(head):])
            assert shown and shown == sentences[: len(shown)]  # whole sentences, from the first


def test_a_long_description_is_shortened_by_whole_sentences():
    sentence = "S" + "x" * 62 + "."  # 64 characters
    text = cw.whole_sentences(" ".join([sentence] * 40), 200)
    assert text == " ".join([sentence] * 3)  # 3 x 64 + 2 spaces = 194; a fourth would pass 200
    assert cw.whole_sentences("One (see e.g. Two). Three.", 19) == "One (see e.g. Two)."
    assert cw.whole_sentences("A sentence far too long for the limit.", 10) == ""


def test_query_file_fits_start_query_with_its_header(stand_in_detections):
    """The deploy guide sends the whole file to start-query: header included, it must fit 10,000 characters."""
    d = stand_in_detections[0]
    body = "fields @timestamp\n| filter eventName = \"" + "x" * (limits.QUERY_STRING_MAX_LENGTH - 60) + "\""
    too_long = cw.Detection(d.rule, body, d.filter_pattern, d.no_filter_reason)
    assert len(body) <= limits.QUERY_STRING_MAX_LENGTH
    with pytest.raises(PackError, match=r"\.logsinsights is \d+ characters; start-query accepts a queryString of at most 10000"):
        cw.check([too_long], "0.1.0")


def test_query_file_header_keeps_whole_sentences_within_the_limit(stand_in_detections):
    first, second = "A" * 39 + ".", "B" * 119 + "."  # the first fits in half the description's room, both do not
    rule = copy.deepcopy(stand_in_detections[0].rule)
    rule.rule.description = f"{first} {second}"
    d = cw.Detection(rule, stand_in_detections[0].query, None, "none")
    whole = len(cw.query_file_text(d, "0.1.0"))  # with the whole description
    padding = "\n#" + "#" * (limits.QUERY_STRING_MAX_LENGTH - whole + len(d.description) // 2)
    crowded = cw.Detection(d.rule, d.query + padding, d.filter_pattern, d.no_filter_reason)
    text = cw.query_file_text(crowded, "0.1.0")
    assert len(text) <= limits.QUERY_STRING_MAX_LENGTH
    (line,) = [line for line in text.splitlines() if line.startswith("# description: ")]
    assert line[len("# description: "):] == first


# --- query definitions: botocore's CloudWatch Logs model --------------------------------------------------


def test_query_definitions_are_valid_put_query_definition_requests(cloudwatch_dir, detections):
    shape = input_shape("logs", "PutQueryDefinition")
    requests = json.loads((cloudwatch_dir / "query-definitions.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in requests] == [f"CloudTrail Detections/{d.rule.title}" for d in detections]
    for request, d in zip(requests, detections):
        assert model_problems(request, shape) == []
        assert request["queryString"] == d.query
        assert len(request["queryString"]) <= shape.members["queryString"].metadata["max"]
        assert request["logGroupNames"] == [cw.LOG_GROUP_PLACEHOLDER]
        assert request["queryLanguage"] == "CWLI"
        single = json.loads((cloudwatch_dir / "query-definitions" / f"{d.rule.slug}.json").read_text(encoding="utf-8"))
        assert single == request


def test_model_check_catches_what_botocore_leaves_to_the_server():
    shape = input_shape("logs", "PutQueryDefinition")
    assert model_problems({"name": "x", "queryString": "q" * 10001, "logGroupNames": ["bad name!"]}, shape)
    assert model_problems({"name": "x"}, shape)  # queryString is required


# --- CloudFormation: cfn-lint ----------------------------------------------------------------------------


def cfn_lint(text: str) -> list:
    from cfnlint.api import ManualArgs, lint

    return lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"]))


def test_template_passes_cfn_lint(cloudwatch_dir):
    text, _ = read_template(cloudwatch_dir)
    matches = cfn_lint(text)
    assert [str(m) for m in matches] == []  # no error, no warning, no informational finding


def test_template_fits_cloudformation_quotas(cloudwatch_dir):
    text, doc = read_template(cloudwatch_dir)
    # CloudFormation quotas: a template uploaded to S3 1 MB (the deploy guide's `deploy --s3-bucket`; passed
    # directly, 51,200 bytes, which two alarms per rule pass); 500 resources; 200 parameters.
    assert len(text.encode("utf-8")) <= 1_048_576
    assert len(doc["Resources"]) <= 500 and len(doc["Parameters"]) <= 200
    assert len(doc["Description"].encode("utf-8")) <= limits.TEMPLATE_DESCRIPTION_MAX_LENGTH


def test_cfn_lint_is_really_checking(cloudwatch_dir):
    text, doc = read_template(cloudwatch_dir)
    alarm = next(r for r in doc["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    alarm["Properties"]["TreatMissingData"] = "notbreaching"
    alarm["Properties"]["Periodd"] = 60
    matches = cfn_lint(json.dumps(doc))
    assert any(m.rule.id.startswith("E") for m in matches)


def test_template_is_the_metric_filter_alarm_topic_path(cloudwatch_dir, detections):
    _, doc = read_template(cloudwatch_dir)
    assert set(doc["Parameters"]) == EXPECTED_PARAMETERS
    assert doc["Outputs"]["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}
    resources = doc["Resources"]
    assert resources["AlertTopic"]["Type"] == "AWS::SNS::Topic"
    sub = resources["AlertTopicEmailSubscription"]
    assert sub["Type"] == "AWS::SNS::Subscription" and sub["Properties"]["Protocol"] == "email"
    assert sub["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}
    names = cw.logical_names([d.rule for d in detections])
    meta = doc["Metadata"]["CloudTrailDetectionPack"]
    query_only = {r["Id"]: r for r in meta["QueryOnlyRules"]}
    for d in detections:
        name = names[d.rule.id]
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name) and len(name) + len("QueryDefinition") <= 255
        qd = resources[f"{name}QueryDefinition"]
        assert qd["Type"] == "AWS::Logs::QueryDefinition"
        assert qd["Properties"] == {
            "Name": d.name,
            "QueryString": d.query,
            "LogGroupNames": [{"Ref": "LogGroupName"}],
            "QueryLanguage": "CWLI",
        }
        if d.filter_pattern is None:
            assert not [r for r in resources if r.startswith(name) and r.endswith(("MetricFilter", "Alarm"))]
            assert query_only[d.rule.id]["Reason"] == d.no_filter_reason
            continue
        assert d.rule.id not in query_only
        for suffix, says, failed in cw.OUTCOMES:  # one metric filter and alarm per outcome
            metric = name + suffix
            mf = resources[f"{metric}MetricFilter"]["Properties"]
            errorcode = "($.errorCode = *)" if failed else "(($.errorCode NOT EXISTS) || ($.errorCode IS NULL))"
            assert mf["FilterPattern"] == "{ (" + d.filter_pattern[2:-2] + ") && " + errorcode + " }"
            assert mf["LogGroupName"] == {"Ref": "LogGroupName"}
            (transformation,) = mf["MetricTransformations"]
            assert transformation == {"MetricNamespace": {"Ref": "MetricNamespace"}, "MetricName": metric, "MetricValue": "1"}
            alarm = resources[f"{metric}Alarm"]["Properties"]
            assert (alarm["Namespace"], alarm["MetricName"]) == (transformation["MetricNamespace"], metric)
            assert "Dimensions" not in alarm
            assert alarm["TreatMissingData"] == "notBreaching"
            assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
            assert alarm["Threshold"] == {"Ref": "AlarmThreshold"}
            assert alarm["Period"] == {"Ref": "AlarmPeriodSeconds"}
            assert alarm["EvaluationPeriods"] == {"Ref": "EvaluationPeriods"}
            assert alarm["DatapointsToAlarm"] == {"Ref": "DatapointsToAlarm"}
            for part in (d.rule.title, says, d.rule.level, d.rule.id):
                assert part in alarm["AlarmDescription"]


def test_logical_names_are_stable(pack):
    names = cw.logical_names(pack.rules)
    assert names[pack.by_id("aws_iam_user_deleted").id] == "AwsIamUserDeleted"
    assert names[pack.by_id("aws_iam_user_deleted_mass").id] == "AwsIamUserDeletedMass"
    assert len(set(names.values())) == len(names)


def test_the_correlation_is_listed_with_its_reason_and_approximation(cloudwatch_dir, pack):
    _, doc = read_template(cloudwatch_dir)
    mass = pack.by_id("aws_iam_user_deleted_mass")
    (entry,) = [r for r in doc["Metadata"]["CloudTrailDetectionPack"]["QueryOnlyRules"] if r["Id"] == mass.id]
    assert entry["Reason"]
    assert entry["Hint"] == (
        "Approximation: an alarm on the metric math sum AwsIamUserDeletedSucceeded + AwsIamUserDeletedFailed with "
        "threshold 3 over one period of 600 seconds (EvaluationPeriods 1, DatapointsToAlarm 1), counting by delivery "
        "time and without the rule's group-by; the saved query is exact."
    )


def test_template_round_trips_through_yaml(cloudwatch_dir, detections):
    text, doc = read_template(cloudwatch_dir)
    assert doc == cw.template(detections, pack_version())
    assert "\r" not in text and text.endswith("\n")


# --- the deployed resources as API requests: botocore's Logs and CloudWatch models ------------------------


def test_template_resources_are_valid_api_requests(cloudwatch_dir):
    _, doc = read_template(cloudwatch_dir)
    params = stack_params(doc)
    checked = set()
    for logical_id, resource in doc["Resources"].items():
        props = resolve(resource["Properties"], params)
        if resource["Type"] == "AWS::Logs::QueryDefinition":
            request = {
                "name": props["Name"],
                "queryString": props["QueryString"],
                "logGroupNames": props["LogGroupNames"],
                "queryLanguage": props["QueryLanguage"],
            }
            problems = model_problems(request, input_shape("logs", "PutQueryDefinition"))
        elif resource["Type"] == "AWS::Logs::MetricFilter":
            request = {
                "logGroupName": props["LogGroupName"],
                "filterName": props["FilterName"],
                "filterPattern": props["FilterPattern"],
                "metricTransformations": [
                    {k[0].lower() + k[1:]: v for k, v in t.items()} for t in props["MetricTransformations"]
                ],
            }
            problems = model_problems(request, input_shape("logs", "PutMetricFilter"))
        elif resource["Type"] == "AWS::CloudWatch::Alarm":
            request = {
                **props,
                "Period": int(props["Period"]),
                "EvaluationPeriods": int(props["EvaluationPeriods"]),
                "DatapointsToAlarm": int(props["DatapointsToAlarm"]),
            }
            request["Threshold"] = float(props["Threshold"])
            problems = model_problems(request, input_shape("cloudwatch", "PutMetricAlarm"))
            assert props["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
        else:
            continue
        checked.add(resource["Type"])
        assert problems == [], logical_id
    assert "AWS::Logs::QueryDefinition" in checked and "AWS::CloudWatch::Alarm" in checked


def test_filter_patterns_fit_put_metric_filter(detections):
    limit = input_shape("logs", "PutMetricFilter").members["filterPattern"].metadata["max"]
    for d in detections:
        if d.filter_pattern is not None:
            assert 0 < len(d.filter_pattern) <= limit, d.rule.title


# --- Terraform module ------------------------------------------------------------------------------------


def test_terraform_module_data_matches_the_template(cloudwatch_dir, detections):
    tf = cloudwatch_dir / "terraform"
    assert sorted(p.name for p in tf.iterdir()) == ["detections.json", "main.tf", "outputs.tf", "variables.tf", "versions.tf"]
    data = json.loads((tf / "detections.json").read_text(encoding="utf-8"))
    names = cw.logical_names([d.rule for d in detections])
    assert set(data) == set(names.values())
    _, doc = read_template(cloudwatch_dir)
    resources = doc["Resources"]
    for d in detections:
        entry = data[names[d.rule.id]]
        assert (entry["query"], entry["filter_pattern"], entry["rule_id"]) == (d.query, d.filter_pattern, d.rule.id)
        assert entry["alarms"] == {
            suffix: {
                "filter_pattern": resources[f"{names[d.rule.id]}{suffix}MetricFilter"]["Properties"]["FilterPattern"],
                "alarm_description": resources[f"{names[d.rule.id]}{suffix}Alarm"]["Properties"]["AlarmDescription"],
            }
            for suffix, _, _ in cw.OUTCOMES
            if d.filter_pattern is not None
        }
    main = (tf / "main.tf").read_text(encoding="utf-8")
    for resource in ("aws_cloudwatch_query_definition", "aws_cloudwatch_log_metric_filter", "aws_cloudwatch_metric_alarm"):
        assert f'resource "{resource}" "rule"' in main
    assert 'treat_missing_data  = "notBreaching"' in main


def test_terraform_files_parse_as_hcl2(cloudwatch_dir):
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed")
    tf = cloudwatch_dir / "terraform"
    parsed = {p.name: hcl2.loads(p.read_text(encoding="utf-8")) for p in sorted(tf.glob("*.tf"))}
    def labels(blocks):  # python-hcl2 8 keeps the labels' quotes
        return {name.strip('"') for block in blocks for name in block}

    variables = labels(parsed["variables.tf"]["variable"])
    assert variables == {
        "log_group_name",
        "notification_email",
        "alarm_threshold",
        "alarm_period_seconds",
        "evaluation_periods",
        "datapoints_to_alarm",
        "metric_namespace",
        "name_prefix",
    }
    assert labels(parsed["outputs.tf"]["output"]) == {"alert_topic_arn", "query_definition_ids"}
    resources = labels(parsed["main.tf"]["resource"])
    assert resources == {
        "aws_sns_topic",
        "aws_sns_topic_subscription",
        "aws_cloudwatch_query_definition",
        "aws_cloudwatch_log_metric_filter",
        "aws_cloudwatch_metric_alarm",
    }


# --- determinism -----------------------------------------------------------------------------------------


def test_writer_output_is_byte_deterministic(tmp_path, detections, tree_bytes):
    a, b = tmp_path / "a", tmp_path / "b"
    first = cw.write_detections(detections, a, "0.1.0")
    second = cw.write_detections(detections, b, "0.1.0")
    assert [p.relative_to(a) for p in first] == [p.relative_to(b) for p in second]
    assert tree_bytes(a) == tree_bytes(b)
    for content in tree_bytes(a).values():
        assert b"\r" not in content and content.endswith(b"\n")


def test_write_compiles_with_the_backend_deterministically(tmp_path, pack, real_detections, tree_bytes):
    a, b = tmp_path / "a", tmp_path / "b"
    cw.write(release_for(pack, cw), a)
    cw.write(release_for(pack, cw), b)
    assert tree_bytes(a) == tree_bytes(b)
    assert any(d.filter_pattern for d in real_detections)
    assert all(d.no_filter_reason for d in real_detections if d.filter_pattern is None)
    assert not any(d.filter_pattern for d in real_detections if d.rule.is_correlation)


def test_output_holds_no_path_of_this_checkout(tmp_path, pack, real_detections, tree_bytes):
    """Reasons come from pySigma errors, whose text ends with the rule's absolute path: it must not leak."""
    cw.write(release_for(pack, cw), tmp_path)
    leaks = [name for name, content in tree_bytes(tmp_path).items() if str(pack.project.root).encode() in content]
    assert leaks == []


def test_requests_are_the_backends_query_definition_format(pack, real_detections, tmp_path):
    """One builder: each shipped request is exactly what `sigma convert -f query_definition` writes with the same
    prefix and log group, plus the marked local-tuning lines the release adds to every query."""
    from cloudtrail_pack.compilation import compile_rules
    from cloudtrail_pack.registry import TARGETS

    backend = compile_rules(
        pack,
        TARGETS["cloudwatch"],
        "query_definition",
        rules=[d.rule for d in real_detections],  # what the writer ships: the refused rules are listed apart
        query_definition_prefix=cw.QUERY_NAME_PREFIX,
        log_group_names=cw.LOG_GROUP_PLACEHOLDER,
    )
    cw.write_detections(real_detections, tmp_path, "0.1.0")
    shipped = json.loads((tmp_path / "query-definitions.json").read_text(encoding="utf-8"))
    expected = [backend[d.rule.id][0] for d in real_detections]
    assert shipped == [{**b, "queryString": cw.with_tuning_lines(b["queryString"])} for b in expected]


def test_every_query_has_the_marked_tuning_line_after_the_rule_filter(real_detections):
    for d in real_detections:
        lines = d.query.split("\n")
        at = lines.index(cw.TUNING_LINES[0])
        assert lines[at - 1].lstrip("| ").startswith("filter ") and lines[at + 1] == cw.TUNING_LINES[1]


def test_uncommenting_the_tuning_line_leaves_the_principal_out(real_detections):
    from evaluators import logs_insights as li

    (deleted,) = [d for d in real_detections if d.rule.name == "aws_iam_user_deleted"]
    offboarding = "arn:aws:iam::111122223333:role/ExampleOffboardingAutomation"
    records = [
        {"eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
         "eventName": "DeleteUser", "eventID": f"e{n}", "userIdentity": {"type": "AssumedRole", "arn": arn}}
        for n, arn in enumerate((offboarding, "arn:aws:iam::111122223333:role/Admin"))
    ]
    assert li.matching(deleted.query, records) == {0, 1}
    tuned = deleted.query.replace(cw.TUNING_LINES[1], cw.TUNING_LINES[1][2:])
    assert li.matching(tuned, records) == {1}


WRITE_CLOUDWATCH = """
import sys
from pathlib import Path
from cloudtrail_pack.attack import use_local_attack_data
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.artifacts import cloudwatch
sys.path.insert(0, sys.argv[2])
from release_helpers import release_for
use_local_attack_data()
cloudwatch.write(release_for(load_pack(), cloudwatch), Path(sys.argv[1]))
"""


def test_backend_build_does_not_depend_on_hash_seed(tmp_path, real_detections, tree_bytes):
    import os
    import subprocess
    import sys
    from pathlib import Path

    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        tests = str(Path(__file__).resolve().parents[1])
        subprocess.run([sys.executable, "-c", WRITE_CLOUDWATCH, str(tmp_path / seed), tests], check=True, env=env, timeout=300)
    assert tree_bytes(tmp_path / "1") == tree_bytes(tmp_path / "2")
