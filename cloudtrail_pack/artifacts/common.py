"""What the release writers share, so that no writer imports another: writing a file, a rule's description as
whole sentences, CloudFormation logical names, YAML in CloudFormation's shape, one query per rule, and the Jinja2
templates every text format is written from (`templates`), with the escaping of each format decided here, once.

Templates. Each writer folder has a `templates/` folder (package data); `artifacts/templates/` holds what several
writers share. A value reaches a template's output only through one of the filters below, each the escaping of one
format, and a filter's result is a `Text`: the environment refuses to write any other string (`_only_escaped`),
so a template cannot build a quoted string by concatenation, nor forget to escape.

    hcl        an HCL value: a string as a quoted literal (`"`, `\\`, control characters and the `${`, `%{` template
               sequences escaped), a number, a list of them
    yaml       a YAML flow value: a string double-quoted by PyYAML's own emitter; the YAML templates are then parsed
               and written by `dump_yaml`, so the output's quoting is the dumper's, whatever the template wrote
    conf       a Splunk .conf value (a line break is a backslash continuation; what Splunk cannot read is refused);
               `conf_key` and `stanza` check a setting's and a stanza's name
    one_line   text for a line comment (`#`, `--`) or a Markdown line: whitespace, line breaks included, collapsed
    verbatim   text already in the output's language: a compiled query, a Markdown paragraph the pack wrote
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import jinja2
import yaml

from ..compilation import Output
from ..pack import PACK_NAME, PackError, PackRule, shown
from ..release.context import Release

# ---------------------------------------------------------------------------------------------------------
# Files


def put(path: Path, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, line endings as given), creating the folders on the way; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def json_text(obj) -> str:
    """JSON as every writer writes a file of it: sorted keys, two-space indent, UTF-8, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def distinct_slugs(rules: list[PackRule]) -> dict[str, str]:
    """{rule id: the stem of its files}; PackError on the second of two rules that would write the same file."""
    seen: dict[str, PackRule] = {}
    for rule in rules:
        first = seen.setdefault(rule.slug, rule)
        if first is not rule:
            raise PackError(shown(rule.source), f"two rules share a file name, {rule.slug} (also {shown(first.source)}); "
                            "give them distinct `name`s")
    return {rule.id: rule.slug for rule in rules}


def single_queries(release: Release, target: str) -> list[tuple[PackRule, str]]:
    """(rule, its one query) for every rule the target compiles, in pack order (a refused rule is left out)."""
    out = []
    for rule in release.pack.rules:
        result = release.result(rule, target)
        if not isinstance(result, Output):
            continue
        if len(result.queries) != 1:
            raise PackError(shown(rule.source), f"{target}: expected one query, got {len(result.queries)}")
        out.append((rule, result.queries[0]))
    return out


def sql_query_file(rule: PackRule, query: str, version: str, notes: list[str]) -> str:
    """A query file of a SQL target (Athena, CloudTrail Lake): the rule's comment header, then the query
    (templates/query.sql.j2)."""
    description = " ".join(sentences(rule.rule.description or ""))
    return render(__package__, "query.sql.j2", rule=rule, description=description, pack=PACK_NAME, version=version,
                  notes=notes, query=query)


# ---------------------------------------------------------------------------------------------------------
# Descriptions

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")


def sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace normalised (a YAML block description keeps its line breaks)."""
    words = " ".join(text.split())
    out, start = [], 0
    for match in re.finditer(r"[.!?](?=\s|$)", words):
        candidate = words[start : match.end()].strip()
        if candidate.endswith(_ABBREVIATIONS):
            continue
        out.append(candidate)
        start = match.end()
    if words[start:].strip():
        out.append(words[start:].strip())
    return out


def whole_sentences(text: str, limit: int) -> str:
    """The leading sentences of `text` that fit in `limit` characters together: never part of a sentence."""
    out = ""
    for sentence in sentences(text):
        candidate = f"{out} {sentence}" if out else sentence
        if len(candidate) > limit:
            break
        out = candidate
    return out


# ---------------------------------------------------------------------------------------------------------
# Names


def camel(text: str) -> str:
    """CamelCase of the letters and digits of `text`, starting with a letter (a CloudFormation logical ID)."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Rule"
    return name if name[0].isalpha() else "Rule" + name


def logical_names(rules: list[PackRule]) -> dict[str, str]:
    """{rule id: CamelCase name from the rule's name (else file stem)}; stable across builds.

    The name prefixes the CloudFormation logical IDs, names the metric and keys the Terraform map. Should
    two rules map to the same name, each gets the first eight hex digits of its id appended."""
    base = {r.id: camel(r.slug) for r in rules}
    counts = Counter(base.values())
    return {rid: name if counts[name] == 1 else name + rid.replace("-", "")[:8].upper() for rid, name in base.items()}


# ---------------------------------------------------------------------------------------------------------
# YAML in CloudFormation's shape


class FlowList(list):
    """A list written on one line (`[a, b]`): in a YAML template, every flow sequence."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    # PyYAML writes U+0085 (NEL) raw in its plain, single-quoted and literal styles, and its reader folds that line
    # break into a space: a string holding one is double-quoted, where the emitter escapes it (\N).
    style = '"' if "\x85" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow(dumper: yaml.SafeDumper, value: FlowList):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(FlowList, _flow)


def dump_yaml(doc: dict) -> str:
    """YAML in the dicts' own key order (Type before Properties), no aliases, no line folding."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, but a flow sequence stays a FlowList (the template's style is the output's)."""


def _flow_sequence(loader: _Loader, node: yaml.SequenceNode):
    items = loader.construct_sequence(node, deep=True)
    return FlowList(items) if node.flow_style else items


_Loader.add_constructor("tag:yaml.org,2002:seq", _flow_sequence)


def load_yaml(text: str) -> dict:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# ---------------------------------------------------------------------------------------------------------
# Escaping: one filter per format (see the module docstring)


class Text(str):
    """A value escaped for the output's format (the result of an escaping filter)."""


def hcl(value) -> Text:
    """An HCL literal (Terraform's native syntax): strings quoted with HCL's escapes, `${` and `%{` doubled so that
    no value starts a template interpolation or directive; numbers as written; lists of them as tuples."""
    if isinstance(value, bool) or value is None:
        return Text(json.dumps(value))
    if isinstance(value, (int, float)):
        return Text(repr(value))
    if isinstance(value, (list, tuple)):
        return Text("[" + ", ".join(hcl(v) for v in value) + "]")
    if not isinstance(value, str):
        raise TypeError(f"no HCL literal for {type(value).__name__}")
    out = []
    for ch in value:
        if ch in _HCL_ESCAPES:
            out.append(_HCL_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return Text(f'"{text}"')


_HCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def yaml_value(value) -> Text:
    """A YAML flow value: strings double-quoted by PyYAML's emitter (every character it cannot write raw escaped),
    numbers and booleans as YAML reads them back, lists as flow sequences, mappings as flow mappings."""
    if isinstance(value, str):
        return Text(yaml.dump(value, Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=10**6).rstrip("\n"))
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return Text(json.dumps(value))
    if isinstance(value, (list, tuple)):
        return Text("[" + ", ".join(yaml_value(v) for v in value) + "]")
    if isinstance(value, dict):
        return Text("{" + ", ".join(f"{yaml_value(str(k))}: {yaml_value(v)}" for k, v in value.items()) + "}")
    raise TypeError(f"no YAML value for {type(value).__name__}")


def conf(text) -> Text:
    """A Splunk .conf value: a line break becomes a backslash continuation (Splunk keeps the line break). ValueError
    for what a .conf value cannot hold (a carriage return, a line ending in a backslash, surrounding whitespace)."""
    lines = str(text).split("\n")
    for line in lines:
        if "\r" in line or line.endswith("\\"):
            raise ValueError(f"cannot write {line!r} as a .conf value line")
    if lines[0] != lines[0].lstrip() or lines[-1] != lines[-1].rstrip():
        raise ValueError("a .conf value cannot start or end with whitespace")
    return Text("\\\n".join(lines))


def conf_stanza_name(name: str) -> Text:
    """A .conf stanza name (between `[` and `]`): ValueError if it holds a bracket or a line break."""
    if any(c in name for c in "[]\n"):
        raise ValueError(f"bad stanza name {name!r}")
    return Text(name)


def conf_key(key: str) -> Text:
    """A .conf setting name: ValueError for what would end or split it (`=`, a line break, surrounding spaces)."""
    if not key or key != key.strip() or any(c in key for c in "=\r\n[]"):
        raise ValueError(f"bad setting name {key!r}")
    return Text(key)


def one_line(text) -> Text:
    """Text on one line, whitespace (line breaks included) collapsed to single spaces: what a line comment (`#`,
    `--`) or a Markdown list item holds without ending early."""
    return Text(" ".join(str(text).split()))


def verbatim(text) -> Text:
    """Text already in the output's language (a compiled query, Markdown the pack wrote), written as it is."""
    return Text(text)


def _defined(escape):
    """The filter `escape`, failing on an undefined name as the environment's StrictUndefined does elsewhere."""

    @functools.wraps(escape)
    def checked(value, *args):
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined: raises UndefinedError naming the missing value
        return escape(value, *args)

    return checked


FILTERS = {
    name: _defined(escape)
    for name, escape in {
        "hcl": hcl,
        "yaml": yaml_value,
        "conf": conf,
        "conf_key": conf_key,
        "stanza": conf_stanza_name,
        "one_line": one_line,
        "verbatim": verbatim,
    }.items()
}


def _only_escaped(value):
    """Jinja's `finalize`: every `{{ ... }}` writes an escaped Text, or a number (never a bare string)."""
    if isinstance(value, Text) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise jinja2.TemplateError(
        f"unescaped value {value!r:.80}: pass it through one of the escaping filters ({', '.join(FILTERS)})"
    )


_COMMON = Path(__file__).parent / "templates"


@cache
def templates(writer_package: str) -> jinja2.Environment:
    """The template environment of one writer (`__name__` of its package): its own templates/, then the shared
    ones. Undefined names fail; output is exactly the template's text (no trailing newline dropped)."""
    folder = Path(importlib.import_module(writer_package).__file__).parent / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder), str(_COMMON)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # no HTML here: each format's escaping is a filter (FILTERS), and _only_escaped enforces it
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_only_escaped,
    )
    env.filters.update(FILTERS)
    return env


def render(writer_package: str, template: str, /, **context) -> str:
    """The text of one template."""
    return templates(writer_package).get_template(template).render(**context)


def render_yaml(writer_package: str, template: str, /, **context) -> dict:
    """A YAML template rendered and read back (flow sequences as FlowList): a document `dump_yaml` writes."""
    return load_yaml(render(writer_package, template, **context))
