"""The Athena and CloudTrail Lake artifacts: cfn-lint on the NamedQuery template, the DDL parsed by sqlglot and
used to build the test table, every shipped .sql file executed (with its time range), byte determinism."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlglot
import yaml
from fixture_corpus import FIXTURE_FILES

from cloudtrail_pack.artifacts import athena as athena_writer
from cloudtrail_pack.artifacts import cloudtrail_lake as lake_writer
from release_helpers import release_for

from . import tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def written(pack, tmp_path_factory):
    out = tmp_path_factory.mktemp("athena")
    athena_writer.write(release_for(pack, athena_writer), out / "athena")
    lake_writer.write(release_for(pack, lake_writer), out / "cloudtrail_lake")
    return out


def sql_of(path) -> str:
    """A shipped .sql file as a client sends it: the text before the final `;` (comments included)."""
    return path.read_text(encoding="utf-8").rstrip().rstrip(";")


def cfn_lint(text: str) -> list:
    from cfnlint.api import ManualArgs, lint

    return lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))


def test_named_query_template_passes_cfn_lint(written):
    text = (written / "athena" / athena_writer.TEMPLATE_FILE).read_text(encoding="utf-8")
    assert [str(m) for m in cfn_lint(text)] == []


def test_cfn_lint_is_really_checking(written):
    doc = yaml.safe_load((written / "athena" / athena_writer.TEMPLATE_FILE).read_text(encoding="utf-8"))
    resource = next(iter(doc["Resources"].values()))
    resource["Properties"]["Name"] = "x" * 200  # over NamedQuery's 128
    assert cfn_lint(yaml.safe_dump(doc))


def test_one_named_query_per_rule(written, pack):
    doc = yaml.safe_load((written / "athena" / athena_writer.TEMPLATE_FILE).read_text(encoding="utf-8"))
    queries = [r for r in doc["Resources"].values() if r["Type"] == "AWS::Athena::NamedQuery"]
    assert len(queries) == len(pack.rules)
    assert all(q["Properties"]["Database"] == {"Ref": "Database"} and q["Properties"]["WorkGroup"] == {"Ref": "WorkGroup"} for q in queries)


def test_ddl_is_athena_sql_with_the_documented_source(written):
    text = (written / "athena" / athena_writer.DDL_FILE).read_text(encoding="utf-8")
    assert "https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html" in text
    create = sqlglot.parse_one(text.split(";\n")[0], read="athena")
    assert create.find(sqlglot.exp.PartitionedByProperty) is not None
    assert "'storage.location.template'='s3://${BUCKET}/${KEY_PREFIX}AWSLogs/${ORGANIZATION_ID}/${account}/CloudTrail/${region}/${timestamp}'" in text


@pytest.mark.parametrize("target", ["athena", "cloudtrail_lake"])
def test_every_shipped_base_rule_file_runs_as_shipped(written, target, pack, reference):
    """The .sql files byte for byte as shipped (comment header included) run over the whole corpus at once and
    agree with the reference."""
    records = [r for f in FIXTURE_FILES for r in f.records]
    load, run = (tables.athena_db, tables.run_athena) if target == "athena" else (tables.lake_db, tables.run_lake)
    db = load(records)
    verdict = reference.run(records)
    assert len(list((written / target / "queries").glob("*.sql"))) == len(pack.rules)
    for rule in pack.rules:
        if rule.is_correlation:
            continue
        rows = run(sql_of(written / target / "queries" / f"{rule.slug}.sql"), db)
        assert {r["eventid"] for r in rows} == {e for e, ids in verdict.matches.items() if rule.id in ids}, rule.slug


def test_athena_time_range_keeps_only_the_time_asked_for(written):
    path = written / "athena" / "queries" / "aws_iam_user_deleted.sql"
    records = [r for f in FIXTURE_FILES for r in f.records if r.get("eventName") == "DeleteUser" and r.get("eventSource") == "iam.amazonaws.com"]
    days = sorted({tables.parse_time(r["eventTime"]).strftime("%Y/%m/%d") for r in records})
    assert len(days) >= 2
    db = tables.athena_db(records)
    everything = {r["eventid"] for r in tables.run_athena(sql_of(path), db)}
    start = days[0].replace("/", "-") + " 00:00:00"
    end = (tables.parse_time(start.replace(" ", "T") + "Z") + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    first_day = {r["eventid"] for r in tables.run_athena(sql_of(path), db, start=start, end=end)}
    assert first_day and first_day < everything
    assert first_day == {r["eventID"] for r in records if tables.parse_time(r["eventTime"]).strftime("%Y/%m/%d") == days[0]}


def test_lake_time_range_includes_start_and_excludes_end(written):
    path = written / "cloudtrail_lake" / "queries" / "aws_iam_user_deleted.sql"
    record = {"eventVersion": "1.09", "eventID": "e1", "eventTime": "2026-01-01T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}
    db = tables.lake_db([record])
    assert tables.run_lake(sql_of(path), db, start="2026-01-01 10:00:00", end="2026-01-01 10:00:01")
    assert not tables.run_lake(sql_of(path), db, start="2026-01-01 09:00:00", end="2026-01-01 10:00:00")


def test_two_writes_are_byte_identical(pack, tmp_path, tree_bytes):
    for name in ("a", "b"):
        athena_writer.write(release_for(pack, athena_writer), tmp_path / name / "athena")
        lake_writer.write(release_for(pack, lake_writer), tmp_path / name / "cloudtrail_lake")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")


ENVSUBST = __import__("shutil").which("envsubst")


def envsubst(text: str, names: str, env: dict) -> str:
    import subprocess

    return subprocess.run([ENVSUBST, names], input=text, capture_output=True, text=True, env=env, check=True).stdout


DDL_ENV = {"BUCKET": "org-trail", "ORGANIZATION_ID": "o-abc123def4", "REGIONS": "us-east-1", "START_DATE": "2025/01/01"}


@pytest.mark.skipif(ENVSUBST is None, reason="envsubst (GNU gettext) is not installed")
@pytest.mark.parametrize("prefix", ["", "cloudtrail/", "a/b/"])
def test_ddl_after_envsubst_keeps_the_projection_placeholders(written, prefix):
    """The trail's key prefix (none, one level, two) lands between the bucket and AWSLogs/, in the location and the
    template alike: a trail writing under a prefix is read, not silently missed."""
    from sigma.backends.athena.ddl import envsubst_names

    text = (written / "athena" / athena_writer.DDL_FILE).read_text(encoding="utf-8")
    out = envsubst(text, envsubst_names(), {**DDL_ENV, "KEY_PREFIX": prefix})
    root = f"s3://org-trail/{prefix}AWSLogs/o-abc123def4"
    assert f"'storage.location.template'='{root}/${{account}}/CloudTrail/${{region}}/${{timestamp}}'" in out
    assert f"LOCATION '{root}/'" in out
    assert "'projection.account.type'='injected'" in out and "projection.account.values" not in out
    assert sqlglot.parse_one(out.split(";\n")[0], read="athena") is not None


@pytest.mark.skipif(ENVSUBST is None, reason="envsubst (GNU gettext) is not installed")
def test_envsubst_leaves_the_ddl_comments_as_written(written):
    """docs/athena.md's envsubst line replaces the parameters in the statement and nothing in its comments (they
    once named the variables with their dollar signs, which envsubst replaced with the values)."""
    from sigma.backends.athena.ddl import envsubst_names

    text = (written / "athena" / athena_writer.DDL_FILE).read_text(encoding="utf-8")
    out = envsubst(text, envsubst_names(), {**DDL_ENV, "KEY_PREFIX": "p/"})
    comments = [line for line in text.splitlines() if line.lstrip().startswith("--")]
    assert comments and comments == [line for line in out.splitlines() if line.lstrip().startswith("--")]


@pytest.mark.skipif(ENVSUBST is None, reason="envsubst (GNU gettext) is not installed")
def test_lake_file_after_envsubst_runs(written):
    import subprocess

    env = {"EVENT_DATA_STORE_ID": tables.LAKE_TABLE, "START_TIME": "2026-01-01 00:00:00", "END_TIME": "2026-01-02 00:00:00"}
    text = (written / "cloudtrail_lake" / "queries" / "aws_iam_user_deleted.sql").read_text(encoding="utf-8")
    sql = subprocess.run([ENVSUBST, "$EVENT_DATA_STORE_ID $START_TIME $END_TIME"], input=text, capture_output=True, text=True, env=env, check=True).stdout
    record = {"eventVersion": "1.09", "eventID": "e1", "eventTime": "2026-01-01T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}
    rows = tables.run_lake(sql.rstrip().rstrip(";"), tables.lake_db([record]))
    assert [r["eventid"] for r in rows] == ["e1"]


def test_named_query_template_deploys_as_the_guide_says(written):
    """CloudFormation quotas ("Template body size in a request" 51,200 bytes; "in an Amazon S3 object" 1 MB): a
    template over the inline limit deploys only through S3, so the guide's command must carry `--s3-bucket` then
    (it does since 21 rules, as CloudWatch's)."""
    size = len((written / "athena" / athena_writer.TEMPLATE_FILE).read_bytes())
    assert size <= 1_048_576
    guide = " ".join((ROOT / "docs" / "athena.md").read_text(encoding="utf-8").split())
    deploy = re.search(r"`aws cloudformation deploy --template-file dist/athena/[^`]*`", guide)
    assert deploy, "docs/athena.md: no deploy command for the Athena template"
    if size > 51200:
        assert "--s3-bucket" in deploy.group(0), (
            f"{athena_writer.TEMPLATE_FILE} is {size} bytes, over CloudFormation's 51,200-byte inline template: "
            "docs/athena.md must deploy it with --s3-bucket"
        )

