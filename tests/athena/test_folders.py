"""Which S3 folders of the organization trail a shipped Athena query reads, and that nothing it should read is
missed: an event delivered the day after it happened, an IAM or Organizations event in the us-east-1 folder of
a member account, an account that joined after the table was made; and that a folder the rule's events cannot be
in (another Region) is not read.

Partition projection is emulated from the shipped DDL itself (after docs/athena.md's envsubst): a folder is
visible when each projected column's value is one the table can project (an `enum`'s values, the `date` range;
an `injected` column any value), and the query's own WHERE on the partition columns (account, region, timestamp)
prunes it in DuckDB, as Athena prunes it before listing S3
(https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html)."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from shutil import which

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.artifacts import athena as athena_writer
from release_helpers import release_for

from . import tables

ENVSUBST = which("envsubst")
pytestmark = pytest.mark.skipif(ENVSUBST is None, reason="envsubst (GNU gettext) is not installed")

MANAGEMENT, MEMBER, LATER = "111122223333", "444455556666", "999900001111"
DDL_ENV = {"BUCKET": "org-trail", "KEY_PREFIX": "", "ORGANIZATION_ID": "o-abc123def4",
           "ACCOUNT_IDS": f"{MANAGEMENT},{MEMBER}", "REGIONS": "us-east-1,eu-west-1", "START_DATE": "2025/01/01"}


@pytest.fixture(scope="module")
def shipped(pack, tmp_path_factory):
    out = tmp_path_factory.mktemp("athena-folders")
    athena_writer.write(release_for(pack, athena_writer), out)
    return out


def query(shipped, slug: str) -> str:
    return (shipped / "queries" / f"{slug}.sql").read_text(encoding="utf-8").rstrip().rstrip(";")


@cache
def ddl_properties(text: str) -> dict[str, str]:
    """TBLPROPERTIES of the DDL as docs/athena.md has the user create it (envsubst, named variables only)."""
    names = " ".join("$" + n for n in DDL_ENV)
    out = subprocess.run([ENVSUBST, names], input=text, capture_output=True, text=True, env=DDL_ENV, check=True).stdout
    return dict(re.findall(r"'([^']+)'='([^']*)'", out))


def projectable(props: dict[str, str], folder: dict[str, str]) -> bool:
    """Whether partition projection can produce this folder's partition at all (before the query's WHERE)."""
    for column, value in folder.items():
        kind = props[f"projection.{column}.type"]
        if kind == "enum" and value not in props[f"projection.{column}.values"].split(","):
            return False
        if kind == "date":
            first, _ = props[f"projection.{column}.range"].split(",")
            if value < first:
                return False
    return True


def table(shipped, records, folders=tables.folder):
    props = ddl_properties((shipped / athena_writer.DDL_FILE).read_text(encoding="utf-8"))
    return tables.athena_db([r for r in records if projectable(props, folders(r))], folders=folders)


def event(eid: str, when: str, account: str = MEMBER, source: str = "iam.amazonaws.com", name: str = "DeleteUser",
          region: str = "us-east-1") -> dict:
    return {"eventVersion": "1.09", "eventID": eid, "eventTime": when, "eventSource": source, "eventName": name,
            "awsRegion": region, "recipientAccountId": account, "requestParameters": {"userName": "bob"}}


def delivered(delay: timedelta, region: str | None = None):
    """The folder CloudTrail writes an event to when the file is delivered `delay` after the event."""
    def folders(record):
        day = tables.parse_time(record["eventTime"]) + delay
        return {**tables.folder(record), "timestamp": day.strftime("%Y/%m/%d"), **({"region": region} if region else {})}
    return folders


def found(shipped, slug, db, start, end, accounts=None) -> set[str]:
    return {r["eventid"] for r in tables.run_athena(query(shipped, slug), db, accounts=accounts, start=start, end=end)}


def test_an_event_delivered_the_day_after_it_happened_is_found(shipped):
    """23:58 on the last day asked for, in the next day's folder (CloudTrail names the folder for the delivery):
    read, because the day folders run one day past the end; the eventtime bound keeps the next day's own events
    out."""
    late = event("late", "2026-01-01T23:58:00Z")
    next_day = event("next-day", "2026-01-02T00:03:00Z")
    db = table(shipped, [late, next_day], delivered(timedelta(minutes=7)))
    assert found(shipped, "aws_iam_user_deleted", db, "2026-01-01 00:00:00", "2026-01-02 00:00:00") == {"late"}
    assert found(shipped, "aws_iam_user_deleted", db, "2026-01-02 00:00:00", "2026-01-03 00:00:00") == {"next-day"}


def test_a_member_accounts_iam_event_in_the_us_east_1_folder_is_found_and_another_region_folder_is_not_read(shipped):
    """IAM and Organizations events are delivered to us-east-1's folder, whichever account made the call; the
    queries of their rules name that folder, so a file in eu-west-1's is not read (it is read by a rule whose
    events may be anywhere: Identity Center's)."""
    home = event("home", "2026-01-01T10:00:00Z", account=MEMBER)
    elsewhere = event("elsewhere", "2026-01-01T10:00:00Z", account=MEMBER, region="eu-west-1")
    left = event("left", "2026-01-01T11:00:00Z", source="organizations.amazonaws.com", name="LeaveOrganization")
    sso = event("sso", "2026-01-01T12:00:00Z", source="sso-directory.amazonaws.com", name="DisableUser", region="eu-west-1")
    db = table(shipped, [home, elsewhere, left, sso])
    window = ("2026-01-01 00:00:00", "2026-01-02 00:00:00")
    assert found(shipped, "aws_iam_user_deleted", db, *window) == {"home"}
    assert found(shipped, "aws_organizations_leave_organization", db, *window) == {"left"}
    assert found(shipped, "aws_identitycenter_user_deleted_or_disabled", db, *window) == {"sso"}
    assert "region = 'us-east-1'" in query(shipped, "aws_iam_user_deleted")
    assert "region =" not in query(shipped, "aws_identitycenter_user_deleted_or_disabled")


def test_an_account_that_joined_after_the_table_was_made_is_searched(shipped):
    """The table was made when the organization had two accounts; a third joins, then leaves (T1666.A002). Its
    folder is searched with the table as it was: the account list comes from the bucket's folders when the query
    runs, not from the table."""
    before = event("before", "2026-01-01T10:00:00Z", account=MEMBER)
    joined = event("joined", "2026-03-01T10:00:00Z", account=LATER, source="organizations.amazonaws.com",
                   name="LeaveOrganization")
    db = table(shipped, [before, joined, {**before, "eventID": "left-2", "eventSource": "organizations.amazonaws.com",
                                         "eventName": "LeaveOrganization"}])
    rows = found(shipped, "aws_organizations_leave_organization", db, "2026-01-01 00:00:00", "2026-12-31 00:00:00")
    assert rows == {"joined", "left-2"}


DOC = Path(__file__).resolve().parents[2] / "docs" / "athena.md"


def documented_listing() -> str:
    """docs/athena.md's command turning `aws s3api list-objects-v2 ... --output text` into ${ACCOUNT_IDS}."""
    line = next(l for l in DOC.read_text(encoding="utf-8").splitlines() if l.lstrip().startswith("| tr "))
    return line.strip()[1:].rstrip(")").strip()


def test_the_documented_listing_and_envsubst_search_an_account_that_joined_later(shipped):
    """The account folders as `list-objects-v2 --delimiter / --output text` prints them (tab-separated prefixes,
    a stray non-account folder among them), through docs/athena.md's command, then its envsubst line on the
    shipped query: the account that joined later is searched."""
    listing = "\t".join(f"cloudtrail/AWSLogs/o-abc123def4/{a}/" for a in (MANAGEMENT, MEMBER, LATER, "notes")) + "\n"
    accounts = subprocess.run(["sh", "-c", documented_listing()], input=listing, capture_output=True, text=True, check=True).stdout
    assert accounts == f"'{MANAGEMENT}','{MEMBER}','{LATER}'"
    env = {"ACCOUNT_IDS": accounts, "START_TIME": "2026-03-01 00:00:00", "END_TIME": "2026-03-02 00:00:00"}
    text = (shipped / "queries" / "aws_organizations_leave_organization.sql").read_text(encoding="utf-8")
    sql = subprocess.run([ENVSUBST, "$ACCOUNT_IDS $START_TIME $END_TIME"], input=text, capture_output=True, text=True,
                         env=env, check=True).stdout.rstrip().rstrip(";")
    joined = event("joined", "2026-03-01T10:00:00Z", account=LATER, source="organizations.amazonaws.com", name="LeaveOrganization")
    db = table(shipped, [joined])
    cursor = db.execute(tables.duckdb_sql(sql))
    assert [row[1] for row in cursor.fetchall()] == ["joined"]


def test_the_table_names_no_account_and_every_query_names_them_at_run_time(shipped, pack):
    props = ddl_properties((shipped / athena_writer.DDL_FILE).read_text(encoding="utf-8"))
    assert props["projection.account.type"] == "injected" and "projection.account.values" not in props
    for rule in pack.rules:
        assert "WHERE account IN (${ACCOUNT_IDS})" in query(shipped, rule.slug), rule.slug


START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    at=st.integers(min_value=0, max_value=5 * 86400 - 1),
    delay=st.integers(min_value=0, max_value=86400),
    first=st.integers(min_value=0, max_value=4 * 86400),
    length=st.integers(min_value=1, max_value=3 * 86400),
)
@example(at=86400 - 60, delay=600, first=0, length=86400)  # late on the last day, delivered the next
@example(at=86400 - 1, delay=86400, first=0, length=86400)  # the longest delay the one-day widening covers
@example(at=0, delay=0, first=0, length=1)  # the first second: the start is included
@example(at=86400, delay=0, first=0, length=86400)  # the end is excluded
@example(at=3600, delay=0, first=3600, length=60)  # a range inside one hour
def test_found_exactly_when_the_event_time_is_in_the_range(shipped_sql, at, delay, first, length):
    """For any delivery up to a day late: the query returns the event iff start <= eventTime < end."""
    when = START + timedelta(seconds=at)
    start, end = START + timedelta(seconds=first), START + timedelta(seconds=first + length)
    record = event("e", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    db = tables.athena_db([record], db=_DB.get("db"), folders=delivered(timedelta(seconds=delay)))
    _DB["db"] = db
    fmt = "%Y-%m-%d %H:%M:%S"
    rows = tables.run_athena(shipped_sql, db, accounts=[MEMBER], start=start.strftime(fmt), end=end.strftime(fmt))
    assert bool(rows) == (start <= when < end)


_DB: dict = {}


@pytest.fixture(scope="module")
def shipped_sql(shipped):
    return query(shipped, "aws_iam_user_deleted")


_SOURCES = ("iam.amazonaws.com", "organizations.amazonaws.com", "sso-directory.amazonaws.com", "ec2.amazonaws.com")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(chosen=st.lists(st.sampled_from(_SOURCES), min_size=1, max_size=4, unique=True))
@example(chosen=["iam.amazonaws.com"])
@example(chosen=["iam.amazonaws.com", "organizations.amazonaws.com"])
@example(chosen=["organizations.amazonaws.com", "sso-directory.amazonaws.com"])
def test_a_region_pin_never_costs_an_event_where_cloudtrail_delivers_it(chosen):
    """For any set of event sources a rule allows: every event in the folder CloudTrail delivers it to (IAM and
    Organizations: us-east-1; the others: their own Region) is found; the query reads only us-east-1 exactly when
    every source allowed is one CloudTrail records there, and then a file in another Region's folder is not read."""
    from sigma.backends.athena import AthenaBackend
    from sigma.backends.athena.regions import GLOBAL_SOURCES
    from sigma.collection import SigmaCollection
    from sigma.pipelines.cloudtrail import athena_cloudtrail_pipeline

    items = "\n".join(f"            - {s}" for s in chosen)
    text = f"""
title: Test
id: 5f1b4d62-0000-4000-8000-000000000002
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventName: DeleteUser
        eventSource:
{items}
    condition: sel
"""
    (sql,) = AthenaBackend(athena_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(text))
    records, expected, misplaced = [], set(), set()
    for i, source in enumerate(_SOURCES):
        for region in ("us-east-1", "eu-west-1"):
            eid = f"{i}-{region}"
            records.append(event(eid, "2026-01-01T10:00:00Z", source=source, region=region))
            real = source not in GLOBAL_SOURCES or region == "us-east-1"
            if source in chosen:
                (expected if real else misplaced).add(eid)
    pinned = set(chosen) <= GLOBAL_SOURCES
    assert ("region = 'us-east-1'" in sql) == pinned
    db = tables.athena_db(records, db=_DB.get("regions"))
    _DB["regions"] = db
    got = {r["eventid"] for r in tables.run_athena(sql, db, accounts=[MEMBER], start="2026-01-01 00:00:00", end="2026-01-02 00:00:00")}
    assert expected <= got
    assert got - expected == (set() if pinned else misplaced)
