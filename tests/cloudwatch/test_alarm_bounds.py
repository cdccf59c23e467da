"""The alarm settings the CloudWatch artifacts accept are exactly those PutMetricAlarm accepts, checked by the real
tools where they exist: the template's Rules evaluated over every parameter combination the template allows, and
the Terraform module through `terraform fmt -check`, `terraform validate` and `terraform test` on its variable
validations.

Terraform runs offline: the binary from PATH, hashicorp/aws from a provider mirror (`$TF_PLUGIN_DIR`, else
/opt/tf-plugins) via `terraform init -plugin-dir`, with no CLI configuration but `disable_checkpoint`, and every
HTTP(S) request sent to a closed local port, so an attempt to download anything fails the test instead of reaching
the network. Without terraform or a mirror holding hashicorp/aws 5.x or 6.x the Terraform tests are skipped with the
reason; `validate` runs once per provider major the mirror holds (`MAJORS`, pinned by an override file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from itertools import product
from pathlib import Path

import pytest
import yaml
from sigma.backends.cloudwatch import limits

from cloudtrail_pack.pack import pack_version
from cloudtrail_pack.artifacts import cloudwatch as cw

TERRAFORM = shutil.which("terraform")
PROVIDER = Path("registry.terraform.io/hashicorp/aws")


def plugin_dir() -> Path | None:
    """The offline provider mirror: $TF_PLUGIN_DIR first, then /opt/tf-plugins; it must hold hashicorp/aws 5.x or
    6.x (the modules' constraint is >= 5.0, < 7.0)."""
    for candidate in (os.environ.get("TF_PLUGIN_DIR"), "/opt/tf-plugins"):
        if candidate and provider_majors(Path(candidate)):
            return Path(candidate)
    return None


def provider_majors(mirror: Path | None) -> list[int]:
    """The hashicorp/aws majors (5, 6) the mirror holds a provider binary of."""
    if mirror is None:
        return []
    return [m for m in (5, 6) if any((mirror / PROVIDER).glob(f"{m}.*/*/terraform-provider-aws_*"))]


PLUGINS = plugin_dir()
MAJORS = provider_majors(PLUGINS)
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH")
needs_mirror = pytest.mark.skipif(
    PLUGINS is None, reason="no offline mirror of hashicorp/aws 5.x or 6.x ($TF_PLUGIN_DIR or /opt/tf-plugins)"
)


def terraform(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    home = cwd.parent
    config = home / "terraformrc"
    config.write_text("disable_checkpoint = true\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("TF_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"))}
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, a download attempt fails at once
    env.update(
        TF_CLI_CONFIG_FILE=str(config),
        TF_INPUT="0",
        TF_IN_AUTOMATION="1",
        CHECKPOINT_DISABLE="1",
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        http_proxy=closed,
        https_proxy=closed,
    )
    return subprocess.run([TERRAFORM, *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def init(module: Path, major: int | None = None) -> None:
    """`terraform init` from the mirror; with `major`, an override file (merged over versions.tf, Terraform's
    override files) pins the provider to that major, so each major the mirror holds is validated in turn."""
    override = module / "versions_override.tf"
    if major is not None or override.exists():
        shutil.rmtree(module / ".terraform", ignore_errors=True)
        (module / ".terraform.lock.hcl").unlink(missing_ok=True)
        override.unlink(missing_ok=True)
    if major is not None:
        override.write_text(
            f'terraform {{\n  required_providers {{\n    aws = {{\n      source  = "hashicorp/aws"\n      version = "~> {major}.0"\n    }}\n  }}\n}}\n',
            encoding="utf-8",
        )
    result = terraform(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGINS}"], module)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory, real_detections) -> Path:
    """The Terraform module as released, in a scratch copy (terraform writes .terraform/ beside it)."""
    out = tmp_path_factory.mktemp("tf")
    cw.write_detections(real_detections, out / "cloudwatch", pack_version())
    module = out / "module" / "terraform"
    shutil.copytree(out / "cloudwatch" / "terraform", module)
    return module


# --- CloudFormation: the Rules over every allowed combination ---------------------------------------------------


def holds(expr, params: dict) -> bool:
    """A CloudFormation rule condition, as CloudFormation evaluates the functions the template uses (parameter
    values are strings in Rules: "Rules-specific intrinsic functions", CloudFormation User Guide)."""
    (name, args), = expr.items()
    if name == "Fn::Not":
        return not holds(args[0], params)
    if name == "Fn::And":
        return all(holds(a, params) for a in args)
    if name == "Fn::Or":
        return any(holds(a, params) for a in args)
    if name == "Fn::Equals":
        return value(args[0], params) == value(args[1], params)
    if name == "Fn::Contains":
        return value(args[1], params) in [value(v, params) for v in args[0]]
    raise AssertionError(f"rule function {name} is not modelled")


def value(v, params: dict) -> str:
    return str(params[v["Ref"]]) if isinstance(v, dict) else str(v)


def api_accepts(period: int, n: int, m: int) -> bool:
    """PutMetricAlarm: Period x EvaluationPeriods <= 86,400 s under one-hour periods, else 604,800 s; M <= N."""
    total = limits.ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS if period < 3600 else limits.ALARM_EVALUATION_MAX_SECONDS
    return period * n <= total and 1 <= m <= n


def test_template_rules_accept_exactly_what_put_metric_alarm_accepts(cloudwatch_dir):
    doc = yaml.safe_load((cloudwatch_dir / cw.TEMPLATE_FILE).read_text(encoding="utf-8"))
    allowed = {name: doc["Parameters"][name]["AllowedValues"] for name in ("AlarmPeriodSeconds", "EvaluationPeriods", "DatapointsToAlarm")}
    assertions = [a for rule in doc["Rules"].values() for a in rule["Assertions"]]
    assert all("RuleCondition" not in rule for rule in doc["Rules"].values())
    wrong = []
    for period, n, m in product(allowed["AlarmPeriodSeconds"], allowed["EvaluationPeriods"], allowed["DatapointsToAlarm"]):
        params = {"AlarmPeriodSeconds": period, "EvaluationPeriods": n, "DatapointsToAlarm": m}
        if all(holds(a["Assert"], params) for a in assertions) != api_accepts(period, n, m):
            wrong.append((period, n, m))
    assert wrong == []
    assert len(assertions) == 11  # 21600 s and 86400 s periods; M = 2..10


def test_template_defaults_are_one_out_of_six_five_minute_periods(cloudwatch_dir):
    doc = yaml.safe_load((cloudwatch_dir / cw.TEMPLATE_FILE).read_text(encoding="utf-8"))
    defaults = {name: p.get("Default") for name, p in doc["Parameters"].items()}
    assert (defaults["AlarmPeriodSeconds"], defaults["EvaluationPeriods"], defaults["DatapointsToAlarm"]) == (300, 6, 1)
    assert defaults["AlarmThreshold"] == 1


def test_rule_model_is_really_checking():
    """The evaluator above refuses a combination the template forbids, so its agreement means something."""
    forbid = cw.template_rules()["DatapointsToAlarmAtMostEvaluationPeriods"]["Assertions"][0]["Assert"]
    assert holds(forbid, {"DatapointsToAlarm": 2, "EvaluationPeriods": 2})
    assert not holds(forbid, {"DatapointsToAlarm": 2, "EvaluationPeriods": 1})


# --- Terraform --------------------------------------------------------------------------------------------------


def test_terraform_module_pins_terraform_and_the_aws_provider(module_dir):
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed")
    (block,) = hcl2.loads((module_dir / "versions.tf").read_text(encoding="utf-8"))["terraform"]
    unquote = lambda v: v.strip('"')  # noqa: E731 - python-hcl2 8 keeps the quotes of string values
    assert unquote(block["required_version"]) == ">= 1.9.0"
    (providers,) = block["required_providers"]
    assert {k: unquote(v) for k, v in providers["aws"].items()} == {"source": "hashicorp/aws", "version": ">= 5.0, < 7.0"}


@needs_terraform
def test_terraform_fmt_check(module_dir):
    result = terraform(["fmt", "-check", "-diff"], module_dir)
    assert (result.returncode, result.stdout) == (0, "")


@needs_terraform
def test_terraform_cannot_download_here(module_dir, tmp_path):
    """Without the mirror, `terraform init` would fetch hashicorp/aws from the registry: here that request goes to a
    closed port and fails, so the tests that pass never downloaded anything."""
    module = tmp_path / "no-mirror"
    module.mkdir()
    shutil.copy(module_dir / "versions.tf", module / "versions.tf")
    result = terraform(["init", "-backend=false", "-input=false"], module)
    assert result.returncode != 0
    assert "proxyconnect tcp: dial tcp 127.0.0.1:9" in result.stdout + result.stderr


@needs_terraform
@needs_mirror
@pytest.mark.parametrize("major", MAJORS or [5], ids=lambda m: f"aws{m}")
def test_terraform_validate_offline(module_dir, major):
    init(module_dir, major)
    result = terraform(["validate"], module_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success! The configuration is valid." in result.stdout


def bound_runs() -> list[tuple[str, dict, str | None]]:
    """(run name, variables, variable expected to fail or None): each bound on its both sides."""
    runs: list[tuple[str, dict, str | None]] = [("defaults", {}, None)]
    for period in cw.ALARM_PERIODS:
        most = limits.max_evaluation_periods(period)
        runs.append((f"period_{period}_n_{most}", {"alarm_period_seconds": period, "evaluation_periods": most}, None))
        runs.append(
            (f"period_{period}_n_{most + 1}", {"alarm_period_seconds": period, "evaluation_periods": most + 1}, "evaluation_periods")
        )
    runs += [
        ("period_120", {"alarm_period_seconds": 120}, "alarm_period_seconds"),
        ("n_0", {"evaluation_periods": 0, "datapoints_to_alarm": 0}, "evaluation_periods"),
        ("n_1_5", {"evaluation_periods": 1.5}, "evaluation_periods"),
        ("m_equals_n", {"evaluation_periods": 6, "datapoints_to_alarm": 6}, None),
        ("m_over_n", {"evaluation_periods": 6, "datapoints_to_alarm": 7}, "datapoints_to_alarm"),
        ("m_0", {"datapoints_to_alarm": 0}, "datapoints_to_alarm"),
    ]
    return runs


def tftest(runs) -> str:
    blocks = ['variables {\n  log_group_name = "aws-cloudtrail-logs-123456789012-0a1b2c3d"\n}\n']
    for name, variables, failing in runs:
        body = "".join(f"    {k} = {v}\n" for k, v in variables.items())
        block = f'run "{name}" {{\n  command = plan\n'
        if body:
            block += f"  variables {{\n{body}  }}\n"
        if failing:
            block += f"  expect_failures = [var.{failing}]\n"
        blocks.append(block + "}\n")
    return "\n".join(blocks)


@needs_terraform
def test_terraform_variable_validations_are_put_metric_alarm_bounds(module_dir, tmp_path):
    """`terraform test` plans the shipped variables.tf (alone: no provider needed) with values on both sides of
    each bound; a run whose validation does not fail as expected, or fails unexpectedly, fails the test."""
    module = tmp_path / "variables-only"
    module.mkdir()
    shutil.copy(module_dir / "variables.tf", module / "variables.tf")
    (module / "tests").mkdir()
    runs = bound_runs()
    (module / "tests" / "bounds.tftest.hcl").write_text(tftest(runs), encoding="utf-8")
    assert terraform(["init", "-backend=false", "-input=false"], module).returncode == 0
    result = terraform(["test"], module)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success! {len(runs)} passed, 0 failed." in result.stdout


@needs_terraform
def test_terraform_test_catches_a_bound_that_does_not_hold(module_dir, tmp_path):
    """A run expecting a failure the validations do not raise fails `terraform test`: the check above can fail."""
    module = tmp_path / "variables-only"
    module.mkdir()
    shutil.copy(module_dir / "variables.tf", module / "variables.tf")
    (module / "tests").mkdir()
    wrong = [("period_60_n_1440", {"alarm_period_seconds": 60, "evaluation_periods": 1440}, "evaluation_periods")]
    (module / "tests" / "wrong.tftest.hcl").write_text(tftest(wrong), encoding="utf-8")
    terraform(["init", "-backend=false", "-input=false"], module)
    result = terraform(["test"], module)
    assert result.returncode != 0
    assert "0 passed, 1 failed" in result.stdout


def test_terraform_variables_describe_the_alarm_as_the_template_does(module_dir, cloudwatch_dir):
    """Both say which alarm they make (1 out of 6 periods) and why, in the same words, each with its own names."""
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed")
    doc = yaml.safe_load((cloudwatch_dir / cw.TEMPLATE_FILE).read_text(encoding="utf-8"))
    blocks = hcl2.loads((module_dir / "variables.tf").read_text(encoding="utf-8"))["variable"]
    variables = {name.strip('"'): body for block in blocks for name, body in block.items()}
    datapoints = variables["datapoints_to_alarm"]["description"].strip('"')
    assert datapoints == doc["Parameters"]["DatapointsToAlarm"]["Description"].replace("EvaluationPeriods", "evaluation_periods")
    assert "consecutive" in datapoints and "Default 1" in datapoints
    assert "up to 15 minutes late" in variables["evaluation_periods"]["description"]
