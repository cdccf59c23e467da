"""The rules themselves: clean under pySigma's and SigmaHQ's checks, with the metadata analysts need."""

from __future__ import annotations

import re

import pytest

from cloudtrail_pack.pack import PackError, load_pack


def rules(pack, correlations=True):
    return [r for r in pack.rules if correlations or not r.is_correlation]


def test_the_pack_holds_the_rules_the_mission_names(pack):
    titles = {r.title for r in pack.rules}
    assert {
        "AWS IAM User Deleted",
        "AWS IAM Mass User Deletion",
        "AWS IAM User Console Password Deleted or Reset",
        "AWS IAM User Access Key Deleted or Deactivated",
        "AWS IAM User MFA Device Deactivated",
        "AWS Account Left the Organization",
        "AWS Account Removed From the Organization",
        "AWS IAM Deny-All Managed Policy Applied to a User, Group or Role",
        "AWS IAM Inline Deny-All Policy Put on a User, Group or Role",
        "AWS IAM User Removed From a Group",
        "AWS IAM Identity Center User Deleted or Disabled",
    } <= titles


def test_rule_checks_report_nothing(pack):
    from cloudtrail_pack.validation import findings

    assert findings(pack) == []


def metadata_problems(r) -> list[str]:
    """What a rule's metadata lacks, each saying what to add."""
    rule, refs = r.rule, " ".join(r.rule.references or [])
    checks = [
        (rule.id and rule.title and rule.status and rule.author and rule.date and rule.level,
         "give it an id, title, status, author, date and level"),
        (len((rule.description or "").split()) >= 20,
         f"the description has {len((rule.description or '').split())} words: say in at least 20 what the rule detects "
         "and what the attacker achieves"),
        (rule.falsepositives, "list its false positives (who makes the call legitimately)"),
        (re.search(r"https://attack\.mitre\.org/techniques/T\d{4}/", refs), "reference its ATT&CK technique's page"),
        ("threat-technique-catalog-for-aws" in refs, "reference the AWS Threat Technique Catalog's page of the technique"),
        ("docs.aws.amazon.com" in refs, "reference the API reference of the calls it detects (docs.aws.amazon.com)"),
    ]  # fmt: skip
    return [f"{r.path}: {fix}" for ok, fix in checks if not ok]


def test_every_rule_has_complete_metadata(pack):
    problems = [p for r in pack.rules for p in metadata_problems(r)]
    assert not problems, "\n".join(problems)


def test_no_rule_holds_a_placeholder_left_to_fill(pack):
    """`cloudtrail-pack new-rule` marks what the author must write with TODO: none may stay."""
    from cloudtrail_pack.cli.new_rule import PLACEHOLDER

    left = [
        f"{r.path}:{number}: {line.strip()}"
        for r in {r.path: r for r in pack.rules}.values()
        for number, line in enumerate(r.source.read_text(encoding="utf-8").splitlines(), 1)
        if PLACEHOLDER in line
    ]
    assert not left, "write what these lines ask for:\n" + "\n".join(left)


def test_every_rule_carries_its_technique_under_one_of_its_attack_tactics(pack):
    """Each technique tag comes with a tactic tag ATT&CK files the technique under (the pack's ATT&CK excerpt)."""
    from cloudtrail_pack.attack import attack_data

    _, _, _, tactics_of = attack_data()
    problems = []
    for r in pack.rules:
        tags = {t.name.lower() for t in r.rule.tags if t.namespace == "attack"}
        techniques = sorted(t.upper() for t in tags if re.fullmatch(r"t\d{4}(\.\d{3})?", t))
        if not techniques:
            problems.append(f"{r.path}: tag the ATT&CK technique it detects (attack.tNNNN)")
        for technique in techniques:
            if not tags & set(tactics_of.get(technique, [])):
                problems.append(f"{r.path}: tag {technique} with one of its tactics: "
                                f"{', '.join('attack.' + t for t in tactics_of.get(technique, ['(not in the ATT&CK excerpt)']))}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("field", ["userIdentity.arn", "sourceIPAddress", "errorCode", "errorMessage", "userAgent"])
def test_every_detection_shows_who_from_where_and_the_outcome(pack, field):
    for r in rules(pack, correlations=False):
        assert r.rule.logsource.product == "aws" and r.rule.logsource.service == "cloudtrail"
        assert field in r.rule.fields, r.path


def test_every_detection_pins_the_event_source(pack):
    """eventName values are reused across services (ElastiCache, MemoryDB, … have DeleteUser)."""
    for r in rules(pack, correlations=False):
        text = r.path.read_text() if r.path.is_absolute() else (pack.root.parent / r.path).read_text()
        assert "eventSource:" in text, r.path


def test_organization_escape_and_mass_deletion_are_high(pack):
    assert pack.by_id("bb3c7f15-92b2-4692-b858-39e6562b8704").level == "high"
    assert pack.by_id("aws_iam_user_deleted_mass").level == "high"


def test_mass_deletion_counts_user_deletions_per_principal(pack):
    corr = pack.by_id("aws_iam_user_deleted_mass").rule
    assert corr.type.name == "EVENT_COUNT"
    assert [str(ref.rule.id) for ref in corr.rules] == ["0b40a563-9611-430c-ac03-6536096733f9"]
    assert corr.group_by == ["userIdentity.arn"]
    assert corr.timespan.seconds == 600


# Bad input: the error names the file (and line) and says what to fix.


def write(tmp_path, name, text):
    folder = tmp_path / "sigma"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


GOOD = (load_pack().root / "organizations" / "aws_organizations_leave_organization.yml").read_text()


def test_broken_yaml_is_reported_with_file_and_line(tmp_path):
    folder = write(tmp_path, "broken.yml", GOOD.replace("    condition: selection", "    condition: [selection"))
    with pytest.raises(PackError) as e:
        load_pack(folder)
    assert str(e.value).startswith(f"{folder / 'broken.yml'}:")  # the real file, wherever the rules are
    assert e.value.line is not None and "YAML" in str(e.value)


def test_unknown_modifier_is_reported_with_the_file(tmp_path):
    folder = write(tmp_path, "bad_modifier.yml", GOOD.replace("eventName: LeaveOrganization", "eventName|startwith: Leave"))
    with pytest.raises(PackError, match=r"sigma/bad_modifier\.yml.*startwith"):
        load_pack(folder)


def test_duplicate_rule_id_names_both_files(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    folder = write(tmp_path, "b.yml", GOOD.replace("title: AWS Account Left", "title: Copy of AWS Account Left"))
    with pytest.raises(PackError, match=r"/sigma/b\.yml: duplicate rule id .* \(also in \S*/sigma/a\.yml\)"):
        load_pack(folder)


def test_an_emptied_rule_file_is_an_error_not_a_smaller_pack(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    folder = write(tmp_path, "emptied.yml", "# retired?\n")
    with pytest.raises(PackError, match=r"emptied\.yml: the file holds no Sigma rule; .*lock"):
        load_pack(folder)


def test_release_paths_do_not_depend_on_the_rules_folder_name(tmp_path):
    folder = tmp_path / "my-rules"
    (folder / "org").mkdir(parents=True)
    (folder / "org" / "leave.yml").write_text(GOOD)
    (rule,) = load_pack(folder).rules
    assert rule.path.as_posix() == "sigma/org/leave.yml"
    assert rule.source == folder / "org" / "leave.yml"


def test_correlation_naming_an_unknown_rule_is_an_error(tmp_path):
    corr = (load_pack().root / "iam" / "aws_iam_user_deleted.yml").read_text().split("\n---\n")[1]
    folder = write(tmp_path, "corr.yml", corr)
    with pytest.raises(PackError, match=r"sigma/corr.yml: Rule .aws_iam_user_deleted. not found"):
        load_pack(folder)
