"""`new-rule`: start a rule as the pack's rules are written (like detection-rules' `create-rule`).

It writes a rule skeleton under sigma/ that passes the rule checks, fixture stubs for the attack and a look-alike in
two delivery formats (S3 `.json`, JSON lines `.jsonl`), and their entries at the end of fixtures/manifest.yml
(appended as text, so the manifest keeps its comments); then it lists, by file and line, what is left to write
(every `TODO`, which the tests refuse), the fixture records of other files the new rule matches, and a call no
shipped SCP covers. It never overwrites a file, and given `--id` and `--date` it writes the same bytes every time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import click

from .options import project_pack

#: What the author still has to write; the tests refuse to find it in sigma/ and fixtures/.
PLACEHOLDER = "TODO"
DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATES = DATA / "new_rule"
#: Calls no SCP can stop (tests/artifacts/test_mitigation_scps.py checks every detected call against both).
NOT_PREVENTABLE = DATA / "mitigations" / "not-preventable.yml"
LEVELS = ("informational", "low", "medium", "high", "critical")
CATALOG = "https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/{}.html"
#: Where each service's API reference documents an operation (the pack's rules cite it); others are left to fill.
API_REFERENCES = {
    "iam.amazonaws.com": "https://docs.aws.amazon.com/IAM/latest/APIReference/API_{}.html",
    "organizations.amazonaws.com": "https://docs.aws.amazon.com/organizations/latest/APIReference/API_{}.html",
    "identitystore.amazonaws.com": "https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_{}.html",
    "sts.amazonaws.com": "https://docs.aws.amazon.com/STS/latest/APIReference/API_{}.html",
}
#: The stubs: (suffix, delivery format, outcome of the attack in it).
FORMATS = ((".json", "s3", "succeeded"), (".jsonl", "jsonl", "denied"))

_FOLDER = re.compile(r"[a-z][a-z0-9_]*")
_NAME = re.compile(r"aws_[a-z0-9_]+")  # SigmaHQ's file name convention for product aws: lower case, `aws_`
_SOURCE = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com")
_EVENT_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
_TECHNIQUE = re.compile(r"T\d{4}(\.\d{3})?")
_RULES_COMMENT = re.compile(r"#   [0-9a-f-]{36}  ")  # the manifest's comment list of rule ids and titles


@dataclass(frozen=True)
class Spec:
    """What the author chose, checked."""

    folder: str
    name: str
    title: str
    event_source: str
    event_names: tuple[str, ...]
    level: str
    technique: str
    author: str
    rule_id: str
    date: str

    @property
    def service(self) -> str:
        return self.event_source.split(".")[0]

    def actions(self) -> list[str]:
        return [f"{self.service}:{name}" for name in self.event_names]

    def api_references(self) -> list[str]:
        url = API_REFERENCES.get(self.event_source)
        if url is None:
            return [f"https://docs.aws.amazon.com/{PLACEHOLDER}-the-API-reference-of-{name}" for name in self.event_names]
        return [url.format(name) for name in self.event_names]

    def derived(self, name: str) -> str:
        """A UUID of this rule's (`--id` given: the same every run) for a fixture record's eventID or requestID."""
        return str(uuid.uuid5(uuid.UUID(self.rule_id), name))


@dataclass
class Written:
    """A file new-rule writes: created, or (the manifest) appended to from line `new_from` on."""

    path: Path
    text: str
    what: str
    new_from: int = 1

    @property
    def appended(self) -> bool:
        return self.new_from > 1


# ---------------------------------------------------------------------------------------------------------
# Options: each checked, asked for on a terminal when missing


def _on_a_terminal() -> bool:
    return sys.stdin.isatty()


def _ask(value, option: str, question: str, **kwargs):
    if value not in (None, ()):
        return value
    if not _on_a_terminal():
        raise click.UsageError(f"missing {option} (new-rule asks for it on a terminal)")
    return click.prompt(question, **kwargs)


def _checked(value: str, pattern: re.Pattern, option: str, what: str) -> str:
    if not pattern.fullmatch(value or ""):
        raise click.BadParameter(f"{value!r} is not {what}", param_hint=option)
    return value


def _one_line(value: str, option: str) -> str:
    if not value.strip() or value != value.strip() or any(c in value for c in "\r\n\t"):
        raise click.BadParameter(f"{value!r}: one line of text, without surrounding spaces", param_hint=option)
    return value


def _date(value: str | None) -> str:
    if value is None:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint="--date") from None


def _rule_id(value: str | None) -> str:
    if value is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a UUID", param_hint="--id") from None


def _git_author(root: Path) -> str | None:
    try:
        done = subprocess.run(["git", "config", "user.name"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _folder_technique(pack, folder: str) -> str | None:
    """The one ATT&CK technique the folder's rules are tagged with, if they agree."""
    tags = {
        t.name.upper()
        for r in pack.rules
        if r.path.parts[1:2] == (folder,)
        for t in r.rule.tags or []
        if t.namespace == "attack" and _TECHNIQUE.fullmatch(t.name.upper())
    }
    return tags.pop() if len(tags) == 1 else None


def _tactics(technique: str) -> list[str]:
    from ..attack import attack_data

    _, _, _, mapping = attack_data()
    if technique not in mapping:
        raise click.BadParameter(
            f"{technique} is not in the pack's ATT&CK excerpt (cloudtrail_pack/data/attack/): use one of "
            f"{', '.join(sorted(mapping))}, or add the technique to the excerpt",
            param_hint="--technique",
        )
    return sorted(mapping[technique])


#: option -> (question, pattern, what a good value is); the free-text options are checked by _one_line.
_ASKED = {
    "--folder": ("Technique folder under sigma/ (iam, organizations, identitycenter, ...)", _FOLDER,
                 "a folder name (lower case, digits, _)"),
    "--name": ("File name without .yml (aws_<service>_<what>)", _NAME, "a file name aws_<service>_<what> (lower case, digits, _)"),
    "--event-source": ("eventSource (e.g. iam.amazonaws.com)", _SOURCE, "an AWS endpoint such as iam.amazonaws.com"),
    "--technique": ("ATT&CK technique (T1531)", _TECHNIQUE, "an ATT&CK technique id such as T1531"),
}  # fmt: skip


def _token(value, option: str, upper: bool = False) -> str:
    question, pattern, what = _ASKED[option]
    answer = str(_ask(value, option, question))
    return _checked(answer.upper() if upper else answer, pattern, option, what)


def _event_names(given: tuple) -> tuple[str, ...]:
    names = given or tuple(_ask(None, "--event-name", "eventName(s), comma-separated").replace(" ", "").split(","))
    for name in names:
        _checked(name, _EVENT_NAME, "--event-name", "an API operation as CloudTrail names it (DeleteGroup)")
    return tuple(dict.fromkeys(names))


def _spec(pack, root: Path, given: dict) -> Spec:
    folder = _token(given["folder"], "--folder")
    name = _token(given["name"], "--name")
    title = _one_line(_ask(given["title"], "--title", "Title"), "--title")
    source = _token(given["event_source"], "--event-source")
    names = _event_names(given["event_names"])
    level = _ask(given["level"], "--level", "Level", type=click.Choice(LEVELS), default="medium")
    technique = _token(given["technique"] or _folder_technique(pack, folder), "--technique", upper=True)
    author = _one_line(_ask(given["author"] or _git_author(root), "--author", "Author"), "--author")
    return Spec(folder, name, title, source, names, level, technique, author, _rule_id(given["rule_id"]), _date(given["date"]))


# ---------------------------------------------------------------------------------------------------------
# The rule


def _templates():
    import jinja2

    from ..artifacts.common import templates

    # The artifacts' environment (its escaping filters and strictness), reading this verb's templates.
    return templates("cloudtrail_pack.artifacts").overlay(loader=jinja2.FileSystemLoader(str(TEMPLATES)))


def rule_text(spec: Spec) -> str:
    return _templates().get_template("rule.yml.j2").render(
        title=spec.title, id=spec.rule_id, name=spec.name, event_names=list(spec.event_names),
        attack_url=f"https://attack.mitre.org/techniques/{spec.technique.replace('.', '/')}/",
        catalog_url=CATALOG.format(spec.technique), api_references=spec.api_references(), author=spec.author,
        date=spec.date, tags=[f"attack.{t}" for t in _tactics(spec.technique)] + [f"attack.{spec.technique.lower()}"],
        event_source=spec.event_source, level=spec.level,
    )  # fmt: skip


def _check_rule(pack, project, spec: Spec, text: str) -> None:
    """The skeleton with the author's values passes the pack's rule checks, and is new to the pack."""
    from ..errors import shown
    from ..pack import Pack, load_rule_file
    from ..validation import findings

    taken = {
        "--id": (spec.rule_id, {r.id for r in pack.rules}),
        "--name": (spec.name, {r.rule.name for r in pack.rules}),
        "--title": (spec.title, {r.title for r in pack.rules}),
    }
    for option, (value, values) in taken.items():
        if value in values:
            raise click.BadParameter(f"{value!r} is a rule of the pack already", param_hint=option)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "sigma", spec.folder, f"{spec.name}.yml")
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        new = load_rule_file(path, path.parents[1])
        found = findings(Pack([*pack.rules, *new], pack.root, pack.collection, project))
        mine = [line.replace(str(shown(path)), spec.name + ".yml") for line in found if line.startswith(str(shown(path)))]
    if mine:
        raise click.UsageError("the rule would not pass the rule checks:\n  " + "\n  ".join(mine))


# ---------------------------------------------------------------------------------------------------------
# Fixture stubs


def _record(spec: Spec, key: str, event_name: str, when: str, outcome: str) -> dict:
    """One CloudTrail record as CloudTrail writes an IAM user's API call (the manifest's documentation account and
    addresses); `outcome` is "succeeded", "denied" or "look-alike"."""
    digest = uuid.UUID(spec.derived("principal")).hex.upper()
    record = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser", "principalId": f"AIDA{digest[:16]}", "arn": "arn:aws:iam::111122223333:user/ops-admin",
            "accountId": "111122223333", "accessKeyId": f"AKIA{digest[16:32]}", "userName": "ops-admin",
        },
        "eventTime": when,
        "eventSource": spec.event_source,
        "eventName": event_name if outcome != "look-alike" else f"{PLACEHOLDER}LookAlike{event_name}",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.24",
        "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1016-aws md/arch#x86_64 lang/python#3.11.8",
    }  # fmt: skip
    if outcome == "denied":
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = (f"User: arn:aws:iam::111122223333:user/ops-admin is not authorized to perform: "
                                  f"{spec.service}:{event_name} because no identity-based policy allows the "
                                  f"{spec.service}:{event_name} action")
    record["requestParameters"] = {PLACEHOLDER: f"the request parameters of {event_name}, as its API reference names them"}
    record["responseElements"] = None
    record.update({
        "requestID": spec.derived(f"request {key}"), "eventID": spec.derived(key), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    })  # fmt: skip
    return record


def _stub_records(spec: Spec, fmt: str, outcome: str, day: str) -> list[tuple[dict, list[str], str]]:
    """(record, rules that must match it, its manifest comment): the attack, once per eventName, then a look-alike
    of the same service."""
    out = []
    for i, name in enumerate(spec.event_names):
        record = _record(spec, f"{fmt} {i}", name, f"{day}T10:{i:02d}:07Z", outcome)
        out.append((record, [spec.rule_id], f"{name} {outcome} (IAM user ops-admin): the attack"))
    when = f"{day}T10:{len(spec.event_names):02d}:41Z"
    lookalike = _record(spec, f"{fmt} look-alike", spec.event_names[0], when, "look-alike")
    out.append((lookalike, [], f"{PLACEHOLDER}: the look-alike, a call of {spec.event_source} the rule must not match"))
    return out


def _free_days(fixtures: Path, manifest: dict, count: int) -> list[str]:
    """Days no fixture file uses, after the newest (each file covers a day of its own: no correlation window spans
    two files)."""
    from ..errors import PackError
    from ..records import RecordError, read_file

    days = set()
    for rel in (manifest.get("files") or {}):
        try:
            days |= {str(r.get("eventTime", ""))[:10] for r in read_file(fixtures / rel).records}
        except RecordError as e:
            raise PackError(fixtures / rel, f"cannot read the fixture ({e})") from e
    newest = max((dt.date.fromisoformat(d) for d in days if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)), default=dt.date(2025, 1, 1))
    return [(newest + dt.timedelta(days=n)).isoformat() for n in range(1, count + 1)]


def _fixture_text(fmt: str, records: list[dict]) -> str:
    if fmt == "s3":
        return json.dumps({"Records": records}, indent=2, ensure_ascii=False) + "\n"
    return "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records)


def fixtures(spec: Spec, fixtures_dir: Path, manifest_text: str) -> tuple[list[Written], str]:
    """The two fixture files and the manifest's new text (entries appended, the rule named in its comment list)."""
    import yaml

    template = _templates().get_template("manifest_entry.yml.j2")
    days = _free_days(fixtures_dir, yaml.safe_load(manifest_text) or {}, len(FORMATS))
    files, entries = [], []
    for (suffix, fmt, outcome), day in zip(FORMATS, days):
        rel = f"{spec.folder}/{spec.name}{suffix}"
        stubs = _stub_records(spec, fmt, outcome, day)
        text = _fixture_text(fmt, [record for record, _, _ in stubs])
        files.append(Written(fixtures_dir / rel, text, f"{fmt}: the attack and a look-alike"))
        entries.append(template.render(
            path=rel, format=fmt, sources=spec.api_references(),
            summary=f"{', '.join(spec.event_names)} {outcome}, and a look-alike of the same service",
            records=[{"event_id": r["eventID"], "rule_ids": ids, "comment": c} for r, ids, c in stubs],
        ))  # fmt: skip
    return files, _manifest_text(spec, manifest_text, entries, [f"{spec.folder}/{spec.name}{s}" for s, _, _ in FORMATS])


def _manifest_text(spec: Spec, text: str, entries: list[str], paths: list[str]) -> str:
    """`text` with `entries` appended under `files:` (its last key) and the rule added to the comment list of rules."""
    import yaml

    lines = text.splitlines(keepends=True)
    listed = [i for i, line in enumerate(lines) if _RULES_COMMENT.match(line)]
    if listed:
        lines.insert(listed[-1] + 1, f"#   {spec.rule_id}  {' '.join(spec.title.split())}\n")
    new = "".join(lines)
    new = (new if new.endswith("\n") else new + "\n") + "".join(entries)
    try:
        files = (yaml.safe_load(new) or {}).get("files") or {}
    except yaml.YAMLError as e:
        raise click.UsageError(f"fixtures/manifest.yml: cannot append to it ({e})") from None
    if not all(p in files and files[p].get("expect") for p in paths):
        raise click.UsageError("fixtures/manifest.yml: `files:` must be its last key (new-rule appends its entries at the end)")
    return new


# ---------------------------------------------------------------------------------------------------------
# Writing, and what is left


def _write(written: list[Written]) -> None:
    """Create each file, never replacing one (the manifest, appended to, is replaced whole and atomically)."""
    for w in written:
        w.path.parent.mkdir(parents=True, exist_ok=True)
        if w.appended:
            scratch = w.path.with_name(f".{w.path.name}.new-rule")
            scratch.write_text(w.text, encoding="utf-8")
            os.replace(scratch, w.path)
        else:
            with open(w.path, "x", encoding="utf-8", newline="\n") as f:
                f.write(w.text)


def left_to_fill(written: list[Written]) -> list[str]:
    """`file:line: text` of every placeholder in what was written (the manifest: its new lines only)."""
    from ..errors import shown

    out = []
    for w in written:
        for number, line in enumerate(w.text.splitlines(), 1):
            if number >= w.new_from and PLACEHOLDER in line:
                shown_line = _placeholders_of(line) if w.path.suffix == ".jsonl" else " ".join(line.split())
                out.append(f"{shown(w.path)}:{number}: {_cut(shown_line, 100)}")
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + " ..."


def _placeholders_of(line: str) -> str:
    """Where a JSON line holds the placeholder: `key.path: value` of each such value (or key)."""
    found = []

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif PLACEHOLDER in str(value) or PLACEHOLDER in path:
            found.append(f"{path}: {value}")

    walk(json.loads(line), "")
    return "; ".join(found)


def other_matches(project, spec: Spec, rule_file: Path, manifest_text: str, skip: set[str]) -> list[str]:
    """Records of the other fixture files the new rule matches: each must name it in the manifest."""
    import yaml
    from sigma.collection import SigmaCollection

    from ..engine.reference import ReferenceEngine
    from ..pack import Pack, load_rule_file
    from ..records import read_file

    new = load_rule_file(rule_file, project.rules_dir)
    engine = ReferenceEngine(Pack(new, project.rules_dir, SigmaCollection([r.rule for r in new]), project))
    lines = manifest_text.splitlines()
    out = []
    for rel in sorted(set((yaml.safe_load(manifest_text) or {}).get("files") or {}) - skip):
        for event_id, ids in sorted(engine.run(read_file(project.root / "fixtures" / rel).records).matches.items()):
            if spec.rule_id in ids:
                number = next((n for n, line in enumerate(lines, 1) if event_id in line), 0)
                out.append(f"fixtures/manifest.yml:{number}: {event_id} of {rel}: the new rule matches it: add "
                           f"{spec.rule_id} to its list (or narrow the rule)")
    return out


def uncovered_calls(spec: Spec) -> list[str]:
    """The rule's calls no shipped SCP denies and not-preventable.yml does not list."""
    import yaml

    from ..artifacts import mitigations

    denied = set().union(*(mitigations.denied_actions(p) for p in mitigations.load_policies().values()))
    listed = {a.lower() for a in (yaml.safe_load(NOT_PREVENTABLE.read_text(encoding="utf-8")) or {})}
    return [a for a in spec.actions() if a.lower() not in denied | listed]


@click.command("new-rule", short_help="write a new rule's skeleton, fixture stubs and manifest entries")
@click.option("--folder", help="Technique folder under sigma/ (iam, organizations, identitycenter, ...).")
@click.option("--name", help="File name without .yml: aws_<service>_<what>, also the rule's `name`.")
@click.option("--title", help="The rule's title.")
@click.option("--event-source", help="eventSource, e.g. iam.amazonaws.com.")
@click.option("--event-name", "event_names", multiple=True, help="eventName (repeatable).")
@click.option("--level", type=click.Choice(LEVELS), help="Sigma level.")
@click.option("--technique", help="ATT&CK technique, e.g. T1531 (default: the folder's rules' one).")
@click.option("--author", help="Author (default: git config user.name).")
@click.option("--id", "rule_id", help="Rule id (default: a new UUID v4).")
@click.option("--date", help="Rule date YYYY-MM-DD (default: today, UTC).")
@click.pass_obj
def command(project, **given) -> int:
    """Write a new rule's skeleton under sigma/, fixture stubs for its attack and a look-alike in two formats,
    and their fixtures/manifest.yml entries; then print what is left to fill. Asks for what is not given."""
    pack = project_pack(project)
    spec = _spec(pack, project.root, given)
    rule_file = project.rules_dir / spec.folder / f"{spec.name}.yml"
    fixtures_dir, manifest = project.root / "fixtures", project.root / "fixtures" / "manifest.yml"
    if not manifest.is_file():
        raise click.UsageError(f"{manifest} not found: new-rule writes fixture stubs and their entries there")
    text = rule_text(spec)
    _check_rule(pack, project, spec, text)
    manifest_before = manifest.read_text(encoding="utf-8")
    stubs, manifest_after = fixtures(spec, fixtures_dir, manifest_before)
    first_new = len(manifest_before.splitlines()) + 1
    written = [Written(rule_file, text, "the rule"), *stubs,
               Written(manifest, manifest_after, f"{len(stubs)} entries appended", first_new)]
    for w in written:
        if w.path.exists() and not w.appended:
            raise click.BadParameter(f"{w.path} exists (new-rule never overwrites): choose another name", param_hint="--name")
    _write(written)
    _report(project, spec, written, rule_file)
    return 0


def _report(project, spec: Spec, written: list[Written], rule_file: Path) -> None:
    from ..errors import shown

    for w in written:
        click.echo(f"wrote {shown(w.path)} ({w.what})")
    click.echo("left to fill:")
    for line in left_to_fill(written):
        click.echo(f"  {line}")
    stubs = {w.path.relative_to(project.root / "fixtures").as_posix() for w in written[1:-1]}
    for line in other_matches(project, spec, rule_file, written[-1].text, stubs):
        click.echo(f"  {line}")
    for action in uncovered_calls(spec):
        click.echo(f"  cloudtrail_pack/data/mitigations/: no shipped SCP denies {action}: add it to a statement of an "
                   f"scp-*.json (and README.md's table), or `{action}: <why>` to not-preventable.yml")
    click.echo("then: cloudtrail-pack lock (in the repository: python build.py lock), and make test")
