"""Every writer of the registry keeps the contract of cloudtrail_pack/release/writer.py: it declares what it NEEDS
from the compilation (targets of the registry), writes from a Release into the folder it is given, and refuses what
it cannot write instead of dropping it."""

from __future__ import annotations

import inspect

import pytest
from release_helpers import release_for

from cloudtrail_pack.pack import PackError, load_pack
from cloudtrail_pack.registry import TARGETS, WRITERS
from cloudtrail_pack.release.writer import Writer, formats


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_writer_follows_the_contract(name):
    writer = WRITERS[name]
    assert isinstance(writer, Writer)
    assert list(inspect.signature(writer.write).parameters) == ["release", "out"]
    assert all(target in TARGETS and isinstance(output_format, str) for target, output_format in writer.NEEDS)


def test_what_a_release_compiles_is_every_table_format_then_what_the_writers_need():
    compiled = [(target.name, output_format) for target, output_format in formats(TARGETS, WRITERS)]
    defaults = [(name, target.table_format) for name, target in TARGETS.items()]
    assert compiled[: len(defaults)] == defaults
    assert set(compiled) == set(defaults) | {need for writer in WRITERS.values() for need in writer.NEEDS}
    assert len(compiled) == len(set(compiled))


def test_a_writer_needing_a_target_the_registry_lacks_is_refused_by_name():
    class Stray:
        NEEDS = (("nowhere", "default"),)

        def write(self, release, out):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(PackError, match="the stray writer needs the target 'nowhere'"):
        formats(TARGETS, {"stray": Stray()})


def _rule(title: str, rule_id: str, event: str) -> str:
    return (f"title: {title}\nid: {rule_id}\nstatus: experimental\ndescription: {title}.\nlogsource:\n    product: aws\n"
            f"    service: cloudtrail\ndetection:\n    selection:\n        eventSource: iam.amazonaws.com\n"
            f"        eventName: {event}\n    condition: selection\nfields:\n    - userIdentity.arn\n"
            "    - recipientAccountId\nlevel: low\n")


@pytest.mark.parametrize("name", ["athena", "cloudtrail_lake", "cloudwatch", "eventbridge", "splunk"])
def test_two_rules_with_one_file_name_are_refused_not_overwritten(name, tmp_path):
    """Two unnamed rules whose files share a name in two folders would write one per-rule file (or Splunk macro):
    the Athena and CloudTrail Lake writers used to let the second replace the first without a word."""
    for folder, (rule_id, event) in {"a": ("6a1c36b1-7d0e-4c55-9b0f-3f2d2d1f0a01", "DeleteUser"),
                                     "b": ("6a1c36b1-7d0e-4c55-9b0f-3f2d2d1f0a02", "CreateUser")}.items():
        (tmp_path / "sigma" / folder).mkdir(parents=True)
        (tmp_path / "sigma" / folder / "same.yml").write_text(_rule(f"Rule {folder}", rule_id, event), encoding="utf-8")
    pack = load_pack(tmp_path / "sigma")
    writer = WRITERS[name]
    with pytest.raises(PackError, match="share a file name|also used by") as refused:
        writer.write(release_for(pack, writer), tmp_path / "out")
    assert refused.value.path.as_posix().endswith("sigma/b/same.yml")  # the second rule's file, naming the first
