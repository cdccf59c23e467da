"""The ATT&CK Navigator layer against a JSON Schema written from the layer format 4.5 specification
(navigator_layer_v4_5.schema.json, which cites it), and against the pack's tags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from release_helpers import release_for

from cloudtrail_pack.artifacts import navigator

SCHEMA = Path(__file__).parent / "navigator_layer_v4_5.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def layer(tmp_path_factory, pack):
    out = tmp_path_factory.mktemp("navigator")
    navigator.write(release_for(pack, navigator), out)
    (path,) = [p for p in out.rglob("*") if p.is_file()]
    assert path == out / navigator.FILE_NAME
    return json.loads(path.read_text(encoding="utf-8"))


def test_layer_validates_against_the_format_4_5_schema(layer, validator):
    errors = sorted(validator.iter_errors(layer), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    assert layer["gradient"]["maxValue"] > layer["gradient"]["minValue"]  # the spec's note, not in the schema


def test_schema_rejects_what_the_format_forbids(layer, validator):
    broken = json.loads(json.dumps(layer))
    del broken["domain"]
    broken["versions"]["layer"] = "4.4"
    broken["techniques"][0]["techniqueID"] = "T15"
    broken["techniques"][0]["tactic"] = "Impact"
    broken["sorting"] = 7
    broken["layout"]["layout"] = "wide"
    broken["metadata"].append({"name": "x"})
    paths = {tuple(e.absolute_path) for e in validator.iter_errors(broken)}
    assert {(), ("versions", "layer"), ("techniques", 0, "techniqueID"), ("techniques", 0, "tactic"), ("sorting",)} <= paths
    assert ("layout", "layout") in paths and ("metadata", 4) in paths


def test_scores_tactics_and_comments_follow_the_rules(layer, pack):
    expected = Counter()
    titles = {}
    for rule in pack.rules:
        if rule.step_only:
            continue  # a correlation step raises no alert: it covers nothing
        for tag in rule.rule.tags:
            if tag.namespace == "attack" and tag.name.startswith("t"):
                expected[tag.name.upper()] += 1
                titles.setdefault(tag.name.upper(), []).append(rule.title)
    cells = {(t["techniqueID"], t.get("tactic")): t for t in layer["techniques"]}
    assert {tid: cell["score"] for (tid, _), cell in cells.items()} == dict(expected)
    assert cells[("T1666", "defense-evasion")]["score"] == 9
    for (tid, _), cell in cells.items():
        for title in titles[tid]:
            assert title in cell["comment"]
        assert cell["links"][0] == {"label": f"ATT&CK {tid}", "url": f"https://attack.mitre.org/techniques/{tid}/"}
    assert layer["versions"]["attack"] == "18"
    assert {m["name"]: m["value"] for m in layer["metadata"]}["rules"] == str(len(pack.rules))


def test_catalog_sub_techniques_annotate_their_attack_technique(layer):
    """ATT&CK has no T1666 sub-techniques; the AWS Threat Technique Catalog's T1666.A001/A002 (linked in the
    rules' references) are listed on the T1666 cell, never as technique ids."""
    (cell,) = [t for t in layer["techniques"] if t["techniqueID"] == "T1666"]
    catalog = {m["name"]: m["value"] for m in cell["metadata"] if m["name"].startswith("AWS Threat Technique Catalog")}
    assert catalog == {
        "AWS Threat Technique Catalog T1666.A001 Create or Invite AWS Account": (
            "AWS Account Accepted an Invitation to Join an Organization; AWS Account Invited to the Organization; "
            "AWS Account Joined the Organization (Management Account Record); AWS Organizations Member Account Created"
        ),
        "AWS Threat Technique Catalog T1666.A002 Leave AWS Organization": (
            "AWS Account Left the Organization; AWS Account Left the Organization (Management Account Record)"
        ),
    }
    base = "https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/"
    assert [link["url"] for link in cell["links"][1:]] == [base + "T1666.A001.html", base + "T1666.A002.html"]
    assert "T1666.A001 Create or Invite AWS Account: " in cell["comment"]
    assert not [t for t in layer["techniques"] if ".A" in t["techniqueID"]]


def test_a_tactic_tag_that_does_not_fit_the_technique_annotates_every_tactic(pack):
    import copy

    from sigma.rule import SigmaRuleTag

    rule = copy.deepcopy(pack.by_id("aws_iam_user_deleted"))
    rule.rule.tags = [SigmaRuleTag("attack", "persistence"), SigmaRuleTag("attack", "t1531"), SigmaRuleTag("attack", "t1098.001")]
    refs = {(r.technique_id, r.tactic) for r in navigator.attack_refs(rule)}
    assert refs == {("T1531", None), ("T1098.001", "persistence")}


def test_layer_is_byte_deterministic(tmp_path, pack, tree_bytes):
    navigator.write(release_for(pack, navigator), tmp_path / "a")
    navigator.write(release_for(pack, navigator), tmp_path / "b")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    text = (tmp_path / "a" / navigator.FILE_NAME).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


WRITE_ALL = """
import sys
from pathlib import Path
from cloudtrail_pack.attack import use_local_attack_data
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.artifacts import mitigations, navigator
sys.path.insert(0, sys.argv[2])
from release_helpers import release_for
use_local_attack_data()
pack = load_pack()
out = Path(sys.argv[1])
navigator.write(release_for(pack, navigator), out / "navigator")
mitigations.write(release_for(pack, mitigations), out / "mitigations")
"""


def test_output_does_not_depend_on_hash_seed(tmp_path, tree_bytes):
    """Two interpreters with different string hashing write the same bytes (no set or dict-order leaks)."""
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        tests = str(Path(__file__).resolve().parents[1])
        subprocess.run([sys.executable, "-c", WRITE_ALL, str(tmp_path / seed), tests], check=True, env=env, timeout=300)
    assert tree_bytes(tmp_path / "1") == tree_bytes(tmp_path / "2")
