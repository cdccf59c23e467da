"""Who can make the Organizations calls the rules detect, as the shipped texts say it, against AWS's own API model
(botocore's organizations service-2.json, the text of the API reference): a call AWS allows only from the
management account is never said to come "(or a delegated administrator)" in a rule's description, the
mitigations README or the list of calls no SCP can stop."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import botocore
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = next((Path(botocore.__file__).parent / "data" / "organizations").glob("*/service-2.json*"))
MANAGEMENT_ONLY = re.compile(r"You can only call this operation from the management account|can be called only from the organization's management account")
DELEGATED = re.compile(r"\bor\s+(?:by\s+)?(?:a|the|its)\s+delegated\s+administrator", re.I)  # the claim, not a denial of it


def operations() -> dict[str, str]:
    raw = gzip.decompress(MODEL.read_bytes()) if MODEL.suffix == ".gz" else MODEL.read_bytes()
    return {name: re.sub(r"<[^>]+>", " ", op.get("documentation", "")) for name, op in json.loads(raw)["operations"].items()}


def management_only() -> set[str]:
    return {name for name, doc in operations().items() if MANAGEMENT_ONLY.search(" ".join(doc.split()))}


def organizations_rules():
    for path in sorted((ROOT / "sigma" / "organizations").glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            names = set()
            for item in (doc.get("detection") or {}).values():
                if isinstance(item, dict):
                    value = item.get("eventName")
                    names |= set(value if isinstance(value, list) else [value] if value else [])
            yield path, doc, names


def test_the_model_names_the_calls_the_rules_detect():
    """The check below is not vacuous: AWS's model marks the rules' own calls management-account-only."""
    assert {"CreateAccount", "InviteAccountToOrganization", "RemoveAccountFromOrganization", "MoveAccount"} <= management_only()


@pytest.mark.parametrize("path, doc, names", [pytest.param(*r, id=r[0].stem) for r in organizations_rules()])
def test_no_rule_says_a_delegated_administrator_makes_a_management_only_call(path, doc, names):
    only = names & management_only()
    if only:
        assert not DELEGATED.search(doc.get("description", "")), (
            f"{path.name}: {', '.join(sorted(only))} can be called only from the management account (AWS Organizations "
            "API reference); the description says a delegated administrator can"
        )


def test_the_mitigations_say_management_only_calls_come_from_the_management_account():
    data = ROOT / "cloudtrail_pack" / "data" / "mitigations"
    listed = yaml.safe_load((data / "not-preventable.yml").read_text(encoding="utf-8"))
    only = management_only()
    wrong = [call for call, why in listed.items() if call.startswith("organizations:") and call.split(":")[1] in only and DELEGATED.search(why)]
    assert wrong == []
    readme = " ".join((data / "README.md").read_text(encoding="utf-8").split())
    for name in only:
        for sentence in re.findall(rf"[^.]*`organizations:{name}`[^.]*\.", readme):
            assert not DELEGATED.search(sentence), sentence
