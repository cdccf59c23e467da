"""Service control policies that stop the pack's techniques, shipped with the detections.

The policies are data files under `data/mitigations/` (`scp-*.json` and their README). The writer checks
each policy against the rules AWS Organizations applies to an SCP document, then copies the files into
`out` byte for byte (the release hands each writer its own folder, e.g. dist/mitigations/). Deeper
checks (unknown actions, resource formats) are parliament's job in the tests; this module must not depend
on test tools.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ...pack import PackError, shown
from ...release.context import Release
from ..common import put

SOURCE_DIR = Path(__file__).resolve().parents[2] / "data" / "mitigations"
README = "README.md"
# AWS Organizations quota: "Maximum size of a service control policy document: 5,120 characters".
SCP_MAX_CHARS = 5120
BREAK_GLASS_PLACEHOLDER = "arn:aws:iam::*:role/REPLACE_WITH_BREAK_GLASS_ROLE"

_TOP_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_SID = re.compile(r"^[A-Za-z0-9]+$")


#: What the release compiles for this writer: nothing (it reads the rules' tags only).
NEEDS: tuple = ()


def policy_files(source: Path = SOURCE_DIR) -> list[Path]:
    return sorted(source.glob("scp-*.json"))


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"duplicate key(s) {', '.join(dupes)}")
    return dict(pairs)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policy_problems(text: str) -> list[str]:
    """Why `text` is not a service control policy AWS Organizations would accept (empty: none found)."""
    problems = []
    if len(text) > SCP_MAX_CHARS:
        problems.append(f"{len(text)} characters, over the SCP limit of {SCP_MAX_CHARS}")
    if "\r" in text or not text.endswith("\n"):
        problems.append("must use \\n line endings and end with a newline")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as e:
        return problems + [f"not valid JSON ({e})"]
    if not isinstance(doc, dict):
        return problems + ["the policy must be a JSON object"]
    if set(doc) - _TOP_KEYS:
        problems.append(f"unexpected top-level key(s) {sorted(set(doc) - _TOP_KEYS)}")
    if doc.get("Version") != "2012-10-17":
        problems.append('"Version" must be "2012-10-17"')
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        return problems + ['"Statement" must be a non-empty list']
    for i, st in enumerate(statements):
        problems += statement_problems(i, st)
    sids = [st["Sid"] for st in statements if isinstance(st, dict) and st.get("Sid") is not None]
    if len(set(map(repr, sids))) != len(sids):
        problems.append("Sids must be unique")
    return problems


def statement_problems(index: int, st) -> list[str]:
    """Why statement `index` of an SCP is not one AWS Organizations would accept, each naming the statement."""
    if not isinstance(st, dict):
        return [f"statement {index}: must be an object"]
    problems = []
    sid = st.get("Sid")
    where = f"statement {index}" if sid is None else f"statement {sid!r}"
    if sid is not None and (not isinstance(sid, str) or not _SID.match(sid)):
        problems.append(f"{where}: Sid must be alphanumeric")
    extra = set(st) - _STATEMENT_KEYS
    if extra:
        problems.append(f"{where}: key(s) not allowed in an SCP: {sorted(extra)} (SCPs take no Principal)")
    if st.get("Effect") != "Deny":
        problems.append(f"{where}: these policies only deny; Effect must be Deny")
    for key, negated, valid, what in (("Action", "NotAction", _valid_action, "action {!r} (service:Action)"),
                                      ("Resource", "NotResource", _valid_resource, "resource {!r}")):
        if (key in st) == (negated in st):
            problems.append(f"{where}: needs exactly one of {key}, {negated}")
        problems += [f"{where}: malformed {what.format(v)}" for v in _as_list(st.get(key, st.get(negated, []))) if not valid(v)]
    condition = st.get("Condition", {})
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        problems.append(f"{where}: Condition must map operators to {{key: value(s)}}")
    return problems


def _valid_action(action) -> bool:
    return isinstance(action, str) and bool(_ACTION.match(action))


def _valid_resource(resource) -> bool:
    return isinstance(resource, str) and (resource == "*" or resource.startswith("arn:"))


def load_policies(source: Path = SOURCE_DIR) -> dict[str, dict]:
    """{file name: policy document} for every shipped SCP, each checked; PackError on the first bad one."""
    files = policy_files(source)
    if not files:
        raise PackError(shown(source), "no service control policies (scp-*.json) found")
    out = {}
    for path in files:
        text = path.read_bytes().decode("utf-8")
        problems = policy_problems(text)
        if problems:
            raise PackError(shown(path), "; ".join(problems))
        out[path.name] = json.loads(text)
    return out


def denied_actions(policy: dict) -> set[str]:
    """The actions a policy's Deny statements name, lower-cased (`iam:deleteuser`)."""
    return {
        a.lower() for st in policy["Statement"] if st.get("Effect") == "Deny" for a in _as_list(st.get("Action", []))
    }


def write(release: Release, out: Path) -> None:
    """Check and copy the SCPs and their README into `out` (the policies do not depend on the rules' text; the
    tests check they cover the rules' actions)."""
    write_policies(out)


def write_policies(out: Path, source: Path = SOURCE_DIR) -> list[Path]:
    """Check the SCPs of `source` and copy them and their README into `out`, byte for byte; the files written, in
    name order."""
    load_policies(source)
    written = []
    for path in sorted([*policy_files(source), source / README]):
        put(out / path.name, path.read_bytes())
        written.append(out / path.name)
    return written
