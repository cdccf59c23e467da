"""The writers' templates (cloudtrail_pack/artifacts/*/templates/, Jinja2) and the escaping filters of
artifacts/common.py: a value reaches a template's output only through the filter of its format, and every filter
gives back exactly the value when the format's own reader reads it (Terraform, PyYAML, Splunk's .conf rules)."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.artifacts import common

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cloudtrail_pack"
TEMPLATES = sorted(p for p in (PACKAGE / "artifacts").rglob("*") if p.is_file() and "templates" in p.relative_to(PACKAGE).parts)

#: Text with what breaks out of a literal in one format or another.
HOSTILE = [
    "", " ", "plain", 'a"b', "a'b", "a\\b", "back\\", "line\nbreak", "cr\rlf", "tab\tx", "${var.x}", "%{ if true }x%{ endif }",
    "$${", "%%{", "#not a comment", "a: b", "- item", "[1, 2]", "{a: 1}", "null", "yes", "no", "on", "1e3", "0x1F", "~",
    "2010-09-09", "&anchor", "*alias", "!tag", "|", ">", "@x", "`x`", "\u2028", "\u2029", "\x85", "\ufeff", "\x00", "\x7f",
    "\x1b[31m", "é", "\U0001F600", "--", "; DROP", "'quoted'", " leading", "trailing ",
]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
SETTINGS = settings(max_examples=400, deadline=None, derandomize=True)


def _env() -> jinja2.Environment:
    return common.templates("cloudtrail_pack.artifacts")


# --- the rule: only escaped values reach the output ----------------------------------------------------------


def test_a_value_without_its_format_filter_is_refused():
    with pytest.raises(jinja2.TemplateError, match="unescaped value"):
        _env().from_string("x = {{ v }}").render(v="a")


def test_two_escaped_values_joined_in_a_template_are_refused():
    """`~` joins Texts into a plain string: quoting two pieces separately and gluing them is what the rule forbids."""
    with pytest.raises(jinja2.TemplateError, match="unescaped value"):
        _env().from_string("x = {{ (v | hcl) ~ (v | hcl) }}").render(v="a")


def test_numbers_and_filtered_values_are_written():
    assert _env().from_string("{{ n }} {{ v | hcl }} {{ v | yaml }}").render(n=3, v="a") == '3 "a" "a"'


def test_an_undefined_name_fails_the_render():
    with pytest.raises(jinja2.UndefinedError):
        _env().from_string("{{ missing | hcl }}").render()


def test_no_template_quotes_a_value_itself():
    """A quote right before `{{` would be the template building a string literal instead of the filter."""
    quoted = [f"{p.relative_to(ROOT)}:{n}" for p in TEMPLATES for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"[\"']\{\{", line)]
    assert quoted == []


def test_every_template_is_package_data():
    """pyproject.toml's package data ships every template (a wheel without them could not write a release)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["cloudtrail_pack"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    assert TEMPLATES and [p.relative_to(ROOT).as_posix() for p in TEMPLATES if p not in shipped] == []


# --- each filter, read back by its format's reader ---------------------------------------------------------


@SETTINGS
@given(TEXT)
@example("\u2028")
@example("\x85")
@example("\ufeff")
@example("\U0001F600")
@example("'\"\\ #: -")
@example("null")
@example("yes")
@example("2010-09-09")
@example(" leading and trailing ")
@example("line\nbreak\r\n")
def test_yaml_values_read_back_exactly(value):
    doc = common.load_yaml(f"key: {common.yaml_value(value)}\nflow: [{common.yaml_value(value)}]\n")
    assert doc == {"key": value, "flow": [value]}
    assert isinstance(doc["flow"], common.FlowList)


@SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8))
@example({"a": [1, "b"], "c: d": None})
def test_yaml_flow_structures_read_back_exactly(value):
    assert common.load_yaml(f"key: {common.yaml_value(value)}\n")["key"] == value


@pytest.mark.parametrize("value", HOSTILE)
def test_yaml_values_survive_a_template_and_the_dumper(value):
    """Through a YAML template, the read-back, and dump_yaml (the CloudFormation path): the value is unchanged."""
    doc = common.load_yaml(_env().from_string("A:\n  Name: {{ v | yaml }}\n  List: [{{ v | yaml }}, x]\n").render(v=value))
    assert yaml.safe_load(common.dump_yaml(doc)) == {"A": {"Name": value, "List": [value, "x"]}}


@SETTINGS
@given(TEXT)
@example("${var.x}")
@example("%{ if true }")
@example("$${")
@example("a\\b\"c")
@example("\x00\x1f\x7f\x9f\u2028")
def test_hcl_strings_are_one_literal_opening_no_template(value):
    """The literal is one line, its quotes are the outer ones only, and every `${` or `%{` in it is escaped (doubled);
    `test_hcl_strings_read_back_exactly_in_terraform` has Terraform itself read them back."""
    literal = str(common.hcl(value))
    body = literal[1:-1]
    assert literal[0] == literal[-1] == '"' and "\n" not in literal
    assert not re.search(r'(?<!\\)"', body.replace("\\\\", ""))
    assert not re.search(r"[$%]\{", re.sub(r"([$%])\1\{", "", re.sub(r"[$%]+(?=[$%]{2}\{)", "", body)))


TERRAFORM = __import__("shutil").which("terraform")


def _terraform_reads(values: list[str], folder: Path) -> list[str]:
    """The strings as Terraform itself reads them: `terraform console` on a module holding them as locals."""
    import os
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text("locals {\n  v = " + common.hcl(values) + "\n}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TF_")}
    env.update(CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull, TF_IN_AUTOMATION="1")
    out = subprocess.run(["terraform", "console"], input="base64encode(jsonencode(local.v))\n", capture_output=True,
                         text=True, cwd=folder, env=env, timeout=120, check=True).stdout
    return json.loads(base64.b64decode(out.strip().strip('"')).decode("utf-8"))  # base64: the console's own quoting aside


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH")
@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.lists(TEXT, min_size=100, max_size=100))
@example(HOSTILE)
def test_hcl_strings_read_back_exactly_in_terraform(tmp_path_factory, values):
    assert _terraform_reads(values, tmp_path_factory.mktemp("hcl")) == values


@pytest.mark.parametrize("value", [v for v in HOSTILE if v == v.strip() and "\r" not in v and not v.endswith("\\")])
def test_conf_values_read_back_exactly(value):
    """Splunk's .conf reader (tests/evaluators/spl.parse_conf) gets back every value the filter accepts."""
    from evaluators.spl import parse_conf

    text = _env().from_string("[s]\nk = {{ v | conf }}\n").render(v=value)
    assert parse_conf(text)["s"]["k"] == value


@pytest.mark.parametrize("value", [" x", "x ", "a\rb", "a\\", "a\\\nb"])
def test_conf_refuses_what_splunk_cannot_read_back(value):
    with pytest.raises(ValueError):
        common.conf(value)


@pytest.mark.parametrize("name", ["a=b", "a\nb", " a", "[a]", ""])
def test_conf_setting_names_that_would_split_a_setting_are_refused(name):
    with pytest.raises(ValueError):
        common.conf_key(name)


@pytest.mark.parametrize("name", ["a]b", "a\nb", "[a"])
def test_conf_stanza_names_that_would_end_the_stanza_line_are_refused(name):
    with pytest.raises(ValueError):
        common.conf_stanza_name(name)


@pytest.mark.parametrize("value", HOSTILE)
def test_one_line_never_breaks_a_line(value):
    assert not set(common.one_line(value)) & set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


@SETTINGS
@given(st.dictionaries(TEXT, TEXT | st.lists(TEXT, max_size=3), max_size=4))
@example({"Description": "\x85"})
@example({"Description": "line\n\x85 next"})
@example({"Description": "a\u2028b", "QueryString": "fields x\n| filter y\n"})
def test_dump_yaml_writes_every_string_back_exactly(doc):
    """What the CloudFormation templates are written with: every string reads back as it was (PyYAML folded a raw
    U+0085 NEL into a space until strings holding one were double-quoted)."""
    assert yaml.safe_load(common.dump_yaml({"Resource": doc})) == {"Resource": doc}
