"""Elastic Security detection rules: one NDJSON file for Security -> Rules -> Import (or
`POST /api/detection_engine/rules/_import`), each line a complete rule in the shape of the
detection-engine create-rule request body.

Every Sigma rule is shipped in three languages, each its own Kibana rule:

* Lucene: a `query` rule; a correlation becomes a `threshold` rule (base query + threshold.field/value);
* EQL: an `eql` rule; an event_count correlation becomes a `sequence by <group> with maxspan=<timespan>
  [...] with runs=<n>` rule;
* ES|QL: an `esql` rule; a correlation becomes `... | stats event_count=count() by <group> | where ...`.

Queries come from `targets.compile_rules` (pySigma's Elasticsearch backends + the `ecs_cloudtrail`
pipeline), so they are the same text `sigma convert` prints. A rule a language cannot express as Sigma
means it is not shipped in that language; the reason is recorded (`ElasticBuild.skipped`, and
`elastic-rules-skipped.json` next to the NDJSON).

rule_id: uuid5(namespace=<Sigma rule id>, name=<language>) with language "lucene", "eql" or "esql": stable
across builds, distinct per language, and derivable by anyone holding the Sigma id. version: the rule's
version in version.lock.json (bumped when its detection logic changes); the pack version
(importlib.metadata) is in `meta.pack_version` and a `Pack: ...` tag.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationType
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail.common import detection_fields
from sigma.pipelines.cloudtrail.ecs import INDEX
from sigma.pipelines.cloudtrail.fields import NoEcsHome, ecs_field, ecs_field_type

from ..attack import attack_data, attack_refs, use_local_attack_data
from ..ecs import INTEGRATION_COMMIT, PIPELINE_PATH
from ..lock import locked_versions
from ..pack import PACK_NAME, Pack, PackError, PackRule, pack_version
from ..targets import compile_rules

NDJSON_NAME = "cloudtrail-detection-pack-elastic-rules.ndjson"
SKIPPED_NAME = "elastic-rules-skipped.json"

LANGUAGES = ("lucene", "eql", "esql")
LANGUAGE_TITLES = {"lucene": "Lucene", "eql": "EQL", "esql": "ES|QL"}

#: Sigma level -> (Kibana severity, risk_score). Kibana's bands: low 0-21, medium 22-47, high 48-73,
#: critical 74-100; each level takes the top of its band (informational: the bottom of low).
SEVERITY = {
    "informational": ("low", 1),
    "low": ("low", 21),
    "medium": ("medium", 47),
    "high": ("high", 73),
    "critical": ("critical", 99),
}

#: Schedules. Single-event rules run every 5 minutes over the last 6 on event.ingested: CloudTrail
#: delivers events minutes after they happen, and the ingest time sees each event once, however late.
#: Correlations count on event time (@timestamp): threshold and ES|QL rules look back exactly the
#: correlation's timespan, every minute, so each alert is a window Sigma would alert on; EQL sequences
#: carry the timespan in maxspan, so they can look further back (timespan + 20m) to catch late events.
BASE_SCHEDULE = {"interval": "5m", "from": "now-6m"}
CORRELATION_INTERVAL = "1m"
EQL_SEQUENCE_EXTRA_LOOKBACK_S = 20 * 60

RELATED_INTEGRATIONS = [{"package": "aws", "integration": "cloudtrail", "version": ">=2.0.0"}]

_ECS_PREFIXES = ("@timestamp", "event.", "cloud.", "source.", "user.", "user_agent.", "tls.", "related.")


@dataclass(frozen=True)
class Skipped:
    sigma_id: str
    language: str
    reason: str


@dataclass
class ElasticBuild:
    rules: list[dict] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)



def _license() -> str:
    try:
        return metadata.metadata(PACK_NAME).get("License") or "MIT"
    except metadata.PackageNotFoundError:  # pragma: no cover - the pack is always installed
        return "MIT"


def rule_uuid(sigma_id: str, language: str) -> str:
    """The Kibana rule_id of a Sigma rule in one language: uuid5(UUID(sigma_id), language)."""
    return str(uuid.uuid5(uuid.UUID(str(sigma_id)), language))


def _timespan_seconds(rule) -> int:
    return int(rule.timespan.seconds)


def _duration(seconds: int) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ------------------------------------------------------------------------------------------ ATT&CK
def _tactic_title(name: str) -> str:
    small = {"and", "of", "the"}
    return " ".join(w if w in small else w.capitalize() for w in name.split("-"))


def threat(pack_rule: PackRule) -> list[dict]:
    """Kibana `threat` entries: one per tagged tactic, with the tagged techniques ATT&CK maps to it
    (sub-techniques under their parent), named from the pack's ATT&CK excerpt."""
    from sigma.data import mitre_attack

    _, _, techniques, _ = attack_data()
    tactic_ids = {name: tid for tid, name in mitre_attack.mitre_attack_tactics.items()}
    tactic_order = [t.name.lower() for t in pack_rule.rule.tags if t.namespace == "attack"]
    by_tactic: dict[str, dict[str, dict]] = {}
    for ref in attack_refs(pack_rule):
        parent = ref.technique_id.split(".")[0]
        if ref.tactic is None or parent not in techniques:
            continue
        entry = by_tactic.setdefault(ref.tactic, {}).setdefault(
            parent,
            {"id": parent, "name": techniques[parent], "reference": f"https://attack.mitre.org/techniques/{parent}/", "subtechnique": []},
        )
        if ref.technique_id != parent and ref.technique_name:
            entry["subtechnique"].append({"id": ref.technique_id, "name": ref.technique_name, "reference": ref.url})
    return [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": tactic_ids[tactic],
                "name": _tactic_title(tactic),
                "reference": f"https://attack.mitre.org/tactics/{tactic_ids[tactic]}/",
            },
            "technique": list(by_tactic[tactic].values()),
        }
        for tactic in sorted(by_tactic, key=lambda t: tactic_order.index(t) if t in tactic_order else len(tactic_order))
    ]


# ------------------------------------------------------------------------------------------ fields
def _required_fields(names: list[str]) -> list[dict]:
    out = {}
    for name in names:
        try:
            home = ecs_field(name)
        except NoEcsHome:
            continue
        kind = ecs_field_type(home)
        out[home] = {"name": home, "type": "flattened" if kind == "flattened" else kind}
    return [out[k] for k in sorted(out)]


def _rule_fields(pack: Pack, pack_rule: PackRule) -> list[str]:
    if not pack_rule.is_correlation:
        return detection_fields(pack_rule.rule)
    names: list[str] = []
    for ref in pack_rule.rule.rules:
        names += detection_fields(ref.rule)
    return names + list(pack_rule.rule.group_by or [])


# -------------------------------------------------------------------------------------- rule text
def _common(pack: Pack, pack_rule: PackRule, language: str, version: str, rule_version: int) -> dict:
    rule = pack_rule.rule
    severity, risk = SEVERITY[pack_rule.level]
    sigma_tags = [f"{t.namespace}.{t.name}" for t in rule.tags]
    threat_entries = threat(pack_rule)
    tags = [
        "Domain: Cloud",
        "Data Source: AWS",
        "Data Source: Amazon Web Services",
        "Data Source: AWS CloudTrail",
        "Use Case: Threat Detection",
        *[f"Tactic: {t['tactic']['name']}" for t in threat_entries],
        f"Language: {LANGUAGE_TITLES[language]}",
        "Sigma",
        f"Sigma: {pack_rule.id}",
        f"Pack: {PACK_NAME} {version}",
        *sigma_tags,
    ]
    references = [str(r) for r in (rule.references or [])]
    description = " ".join((rule.description or rule.title).split())
    return {
        "rule_id": rule_uuid(pack_rule.id, language),
        "name": f"{rule.title} ({LANGUAGE_TITLES[language]})",
        "description": description,
        "severity": severity,
        "risk_score": risk,
        "author": [rule.author] if rule.author else [PACK_NAME],
        "license": rule.license or _license(),
        "tags": list(dict.fromkeys(tags)),
        "threat": threat_entries,
        "references": references,
        "false_positives": [str(f) for f in (rule.falsepositives or [])],
        "version": rule_version,
        "enabled": False,
        "max_signals": 100,
        "to": "now",
        "risk_score_mapping": [],
        "severity_mapping": [],
        "exceptions_list": [],
        "actions": [],
        "related_integrations": RELATED_INTEGRATIONS,
        "required_fields": _required_fields(_rule_fields(pack, pack_rule)),
        "setup": (
            "Requires AWS CloudTrail events indexed by Elastic's AWS integration (data stream "
            f"{INDEX.replace('*', 'default')}), whose ingest pipeline sets the ECS fields this rule reads; keep the "
            "integration's default `retain` option so that aws.cloudtrail.flattened.* is stored."
        ),
        "note": _note(pack_rule, language, version),
        "meta": {"sigma_id": pack_rule.id, "sigma_path": str(pack_rule.path), "pack_version": version},
    }


def _note(pack_rule: PackRule, language: str, version: str) -> str:
    return (
        f"## Sigma rule\n\n{pack_rule.title}, `{pack_rule.path}` (id `{pack_rule.id}`), converted to "
        f"{LANGUAGE_TITLES[language]} by {PACK_NAME} {version} with pySigma's Elasticsearch backend and the "
        "`ecs_cloudtrail` pipeline.\n\n"
        "## Field mapping\n\nCloudTrail fields are read where Elastic's AWS integration indexes them "
        f"(elastic/integrations {PIPELINE_PATH} @ {INTEGRATION_COMMIT[:12]}): eventSource -> event.provider, "
        "eventName -> event.action, errorCode -> aws.cloudtrail.error_code, userIdentity.arn -> "
        "aws.cloudtrail.user_identity.arn, requestParameters.<key> -> aws.cloudtrail.flattened.request_parameters.<key>. "
        "Keyword matches are case-sensitive (AWS writes these values in one fixed case).\n"
    )


def _threshold(pack: Pack, pack_rule: PackRule) -> tuple[str, dict]:
    """(Lucene base query, threshold) of a correlation; raises ValueError when threshold cannot say it."""
    rule = pack_rule.rule
    condition = rule.condition
    op = condition.op
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        if op == SigmaCorrelationConditionOperator.GTE:
            value = int(condition.count)
        elif op == SigmaCorrelationConditionOperator.GT:
            value = int(condition.count) + 1
        else:
            raise ValueError(f"a threshold rule alerts on at least N events; event_count {op.name.lower()} has no threshold")
        threshold: dict = {"value": value}
    elif rule.type == SigmaCorrelationType.VALUE_COUNT and op in (
        SigmaCorrelationConditionOperator.GTE,
        SigmaCorrelationConditionOperator.GT,
    ):
        count = int(condition.count) + (op == SigmaCorrelationConditionOperator.GT)
        threshold = {"value": 1, "cardinality": [{"field": ecs_field(condition.fieldref), "value": count}]}
    else:
        raise ValueError(f"threshold rules cannot express a {rule.type.name.lower()} correlation with {op.name.lower()}")
    group = [ecs_field(name) for name in rule.group_by or []]
    if len(group) > 5:
        raise ValueError("threshold rules group by at most 5 fields")
    threshold["field"] = group
    queries = []
    for ref in rule.rules:
        ref_rule = pack.by_id(str(ref.rule.id))
        (query,) = compile_rules(pack, "lucene", rules=[ref_rule])[ref_rule.id]
        queries.append(query)
    query = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    return query, threshold


def _language_rule(pack: Pack, pack_rule: PackRule, language: str, version: str, rule_version: int) -> dict:
    rule = dict(_common(pack, pack_rule, language, version, rule_version))
    if pack_rule.is_correlation:
        window = _timespan_seconds(pack_rule.rule)
        if language == "lucene":
            query, threshold = _threshold(pack, pack_rule)
            rule.update(type="threshold", language="lucene", query=query, threshold=threshold, index=[INDEX])
            rule.update(interval=CORRELATION_INTERVAL, **{"from": f"now-{_duration(window)}"})
            return rule
        (query,) = compile_rules(pack, language, rules=[pack_rule])[pack_rule.id]
        if language == "eql":
            rule.update(type="eql", language="eql", query=query, index=[INDEX])
            rule.update(interval="5m", **{"from": f"now-{_duration(window + EQL_SEQUENCE_EXTRA_LOOKBACK_S)}"})
        else:
            rule.update(type="esql", language="esql", query=query)
            rule.update(interval=CORRELATION_INTERVAL, **{"from": f"now-{_duration(window)}"})
        return rule
    (query,) = compile_rules(pack, language, rules=[pack_rule])[pack_rule.id]
    kind = {"lucene": "query", "eql": "eql", "esql": "esql"}[language]
    rule.update(type=kind, language=language, query=query, **BASE_SCHEDULE)
    if language != "esql":
        rule.update(index=[INDEX], timestamp_override="event.ingested", timestamp_override_fallback_disabled=False)
    return rule


def build_kibana_rules(pack: Pack) -> ElasticBuild:
    """All rules of the pack in every language that can express them, in pack order then language order."""
    use_local_attack_data()
    version = pack_version()
    rule_versions = locked_versions(pack)
    build = ElasticBuild()
    for pack_rule in pack.rules:
        for language in LANGUAGES:
            try:
                build.rules.append(_language_rule(pack, pack_rule, language, version, rule_versions[pack_rule.id]))
            except (PackError, ValueError) as e:
                if isinstance(e, PackError) and not isinstance(e.__cause__, SigmaFeatureNotSupportedByBackendError):
                    raise  # not a limit of the language: a broken rule or an unmapped field fails the build
                reason = getattr(e, "message", None) or str(e)
                # drop the rule file's absolute path that pySigma appends: the report must not depend on the checkout
                reason = reason.replace(f" in {pack.root.parent}/", " in ").replace(f"{pack.root.parent}/", "")
                build.skipped.append(Skipped(pack_rule.id, language, reason))
    return build


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_kibana_rules(pack: Pack, out_dir: Path) -> Path:
    """Write the import file (and the skipped-language report beside it); returns the NDJSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build = build_kibana_rules(pack)
    path = out_dir / NDJSON_NAME
    path.write_text("".join(dumps(rule) + "\n" for rule in build.rules), encoding="utf-8")
    skipped = [
        {"sigma_id": s.sigma_id, "language": s.language, "rule_id": rule_uuid(s.sigma_id, s.language), "reason": s.reason}
        for s in build.skipped
    ]
    (out_dir / SKIPPED_NAME).write_text(json.dumps(skipped, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_kibana_rules(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
