"""Elastic Security detection rules: one NDJSON file for Security -> Rules -> Import (or
`POST /api/detection_engine/rules/_import`), each line a complete rule in the shape of the
detection-engine create-rule request body.

Every Sigma rule is shipped in up to three languages, each its own Kibana rule:

* Lucene: a `query` rule. Lucene cannot express a correlation, and the pack ships no Kibana threshold rule
  instead: scheduled on event.ingested, a threshold rule counts the events of one run's look-back and cannot
  bound the events' own time span, so it alerts on events spread over up to look-back + delivery delay or
  misses bursts delivered over more than its look-back (docs/elastic.md, "Schedules"); the EQL sequence
  (exact window) and the ES|QL rule (counted events within the timespan) are shipped instead;
* EQL: an `eql` rule; an event_count correlation becomes a `sequence by <group> with maxspan=<timespan>
  [...] with runs=<n>` rule, an ordered temporal one a two-stage `sequence by <group> with maxspan=<timespan>
  [<step 1>] [<step 2>]`;
* ES|QL: an `esql` rule; a correlation becomes `... | stats event_count=count() (value_count=count_distinct(...)),
  first_seen, last_seen by <group> | where event_count >= n and <the events within the timespan>`.

Every rule is scheduled on event.ingested (see "schedules" below, with the Kibana source it is derived
from); correlations carry alert suppression; `note` is an investigation guide built from the Sigma rule.

Queries are the release's compiled results (pySigma's Elasticsearch backends + the `ecs_cloudtrail`
pipeline, compiled once for the whole release), the same text `sigma convert` prints. A rule a language
cannot express as Sigma means it is not shipped in that language; the compiler's reason is recorded, in the
same words as in the build table and the manifest (`ElasticBuild.skipped`, and `elastic-rules-skipped.json`
next to the NDJSON).

rule_id: uuid5(namespace=<Sigma rule id>, name=<language>) with language "lucene", "eql" or "esql": stable
across builds, distinct per language, and derivable by anyone holding the Sigma id. version: the rule's
version in version.lock.json (bumped when its detection logic changes); the pack version
(importlib.metadata) is in `meta.pack_version` and a `Pack: ...` tag.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import yaml

from sigma.correlations import SigmaCorrelationType
from sigma.pipelines.cloudtrail.common import detection_fields
from sigma.pipelines.cloudtrail.correlations import ordered_steps
from sigma.pipelines.cloudtrail.ecs import INDEX
from sigma.pipelines.cloudtrail.ecs_fields import (
    ECS_DEFINED_FIELDS,
    ECS_INTEGRATION_COMMIT,
    ECS_PINNED_FIELDS,
    ECS_PIPELINE_PATH,
    NoEcsHome,
    ecs_field,
    ecs_field_type,
)
from sigma.pipelines.cloudtrail.schema import CANONICAL_CASE

from ...attack import attack_data, attack_refs, use_local_attack_data
from ...compilation import Refusal
from ...pack import PACK_NAME, Pack, PackRule
from ...release.context import DEFAULT_ELASTIC_INDEX, Release
from ..common import json_text, put, render
from .fields import esql_keep, investigation_fields, query_notes, retain_note

NDJSON_NAME = "cloudtrail-detection-pack-elastic-rules.ndjson"
SKIPPED_NAME = "elastic-rules-skipped.json"

LANGUAGES = ("lucene", "eql", "esql")
#: What the release compiles for this writer: each language's queries.
NEEDS = tuple((language, "default") for language in LANGUAGES)
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

# ---------------------------------------------------------------------------------------- outcome
# A denied attempt (probing) and a successful call (impact) are both alerts; the alert's severity says which.
# The integration sets event.outcome to "failure" when the record has errorCode or errorMessage, else
# "success" (tests/elastic_ingest.py, "Add ECS categorization"). Kibana's severity override
# (`severity_mapping`) sets an alert's severity from a field of the event it is built from: each entry whose
# value equals the event's field value matches, and the highest matching severity wins
# (x-pack/solutions/security/plugins/security_solution/server/lib/detection_engine/rule_types/utils/mappings/
# build_severity_from_mapping.ts @ b4099342f24d). A failure takes the severity one band below the rule's level
# (success keeps the level's); a rule at the lowest band has nothing below it and keeps it. `risk_score_mapping`
# reads a numeric field's value as the score (build_risk_score_from_mapping.ts @ 95077bd1e643), which
# event.outcome is not: the risk score stays the level's. ES|QL alerts get the overrides too, on the row merged
# into its source document (esql/wrap_esql_alerts.ts @ 1700536fd4d3: transformHitToAlert(..., applyOverrides:
# true); esql/utils/merge_esql_result_in_source.ts). Correlations alert on an aggregate (an ES|QL row, an EQL
# sequence) of mixed outcomes: no mapping.
OUTCOME_FIELD = "event.outcome"
_BANDS = ("low", "medium", "high", "critical")


def failure_severity(level: str) -> str:
    """The Kibana severity of a failed call, one band below the level's (never below low)."""
    severity = SEVERITY[level][0]
    return _BANDS[max(_BANDS.index(severity) - 1, 0)]


def severity_mapping(pack_rule: PackRule) -> list[dict]:
    if pack_rule.is_correlation or failure_severity(pack_rule.level) == SEVERITY[pack_rule.level][0]:
        return []
    return [{"field": OUTCOME_FIELD, "operator": "equals", "value": "failure", "severity": failure_severity(pack_rule.level)}]


# ------------------------------------------------------------------------------------- schedules
# How Kibana runs a rule (elastic/kibana, x-pack/solutions/security/plugins/security_solution/server/lib/
# detection_engine/rule_types/, files at the commits named):
#
# * every run searches [now - from, now] on the *primary timestamp*: `timestamp_override` if set, else
#   @timestamp; with an override and `timestamp_override_fallback_disabled: false`, a document without the
#   override field is searched on @timestamp (utils/build_events_query.ts @ 00cc0ec6756b, buildTimeRangeFilter;
#   primary/secondary chosen in create_security_rule_type_wrapper.ts @ 328b3b5eaa3d). The same range filter
#   is used by query, threshold (threshold/find_threshold_signals.ts @ a406368d5550), EQL
#   (eql/build_eql_search_request.ts @ 0f79a0f25023) and ES|QL rules (esql/build_esql_search_request.ts
#   @ 0d3c168ca05f).
# * EQL: Kibana passes the rule's own `timestamp_field` parameter (unset here, so Elasticsearch's default
#   @timestamp) as the EQL request's timestamp_field, not the override (eql/eql.ts @ dcd7ae2c6eb5:
#   `timestampField: ruleParams.timestampField`). So `maxspan` measures @timestamp (= eventTime) while
#   the range filter is on event.ingested: a sequence's window is Sigma's event-time window.
# * event.ingested is set by Fleet's final pipeline to the ingest time truncated to the second
#   (x-pack/platform/plugins/shared/fleet/server/constants/fleet_es_assets.ts @ fdfeb2bb4dc1).
#
# CloudTrail delivers events up to MAX_DELIVERY_DELAY late (AWS: "within an average of about 5 minutes
# ... not guaranteed"), so a rule scheduled on @timestamp that looks back about one interval never sees a
# late event. Every rule here is scheduled on event.ingested: a single-event rule looks back its interval
# plus OVERLAP (task-manager start jitter), so each event is searched by at least one run however late it
# arrives; a correlation looks back its timespan + MAX_DELIVERY_DELAY + interval, so some run sees every
# event of a burst at once, and measures the burst on @timestamp (EQL maxspan; ES|QL first_seen/last_seen,
# see the ecs_cloudtrail pipeline).
TIMESTAMP_OVERRIDE = "event.ingested"
INTERVAL_S = 5 * 60
OVERLAP_S = 60
MAX_DELIVERY_DELAY_S = 15 * 60

#: Alert suppression of correlations (Kibana suppresses a new alert into an open one with the same group
#: values whose kibana.alert.start is within `duration` of the run: rule_registry
#: create_persistence_rule_type_wrapper.ts, alertWithSuppression; utils/bulk_create_suppressed_alerts_in_memory.ts
#: @ 95077bd1e643). An aggregating ES|QL rule's alert id is hashed from the run's time range
#: (esql/utils/generate_alert_id.ts @ 10e456df04b5), and overlapping EQL sequences of one burst have
#: different building blocks, hence ids (eql/build_alert_group_from_sequence.ts @ 04cd4f351779), so both
#: raise one alert per run or per sequence without it. A burst stays visible to the runs for at most the
#: look-back plus its own ingest spread (timespan + delay): the duration covers that, so one burst gives one
#: alert. `suppress` groups events without the principal together rather than alerting on each.
MISSING_FIELDS_STRATEGY = "suppress"


def _correlation_lookback_s(rule) -> int:
    return _timespan_seconds(rule) + MAX_DELIVERY_DELAY_S + INTERVAL_S


def _suppression_s(rule) -> int:
    return _correlation_lookback_s(rule) + _timespan_seconds(rule) + MAX_DELIVERY_DELAY_S


def _schedule(lookback_s: int) -> dict:
    return {
        "interval": _duration(INTERVAL_S),
        "from": f"now-{_duration(lookback_s)}",
        "timestamp_override": TIMESTAMP_OVERRIDE,
        "timestamp_override_fallback_disabled": False,
    }


def _suppression(group_by: list[str], seconds: int) -> dict:
    unit, size = next((u, n) for u, n in (("h", 3600), ("m", 60), ("s", 1)) if seconds % n == 0)
    return {
        "group_by": group_by,
        "duration": {"value": seconds // size, "unit": unit},
        "missing_fields_strategy": MISSING_FIELDS_STRATEGY,
    }


# ---------------------------------------------------------------------------------- index patterns
#: Where the AWS integration writes CloudTrail; users of the Filebeat AWS module add `filebeat-*`.
DEFAULT_INDEX_PATTERNS: tuple[str, ...] = DEFAULT_ELASTIC_INDEX
#: An Elasticsearch index pattern (index names: lower case, not starting with - _ +, none of \ / ? " < > | , #
#: or space; `*` for patterns; an optional `cluster:` prefix), so that a pattern can neither break out of
#: ES|QL's FROM nor of the rule's JSON.
_INDEX_PATTERN = re.compile(r"(?:[a-z0-9][a-z0-9_.-]*:)?[a-z0-9*][a-z0-9_.*+-]*")


def checked_index_patterns(patterns=None) -> tuple[str, ...]:
    """The index patterns the rules search (default DEFAULT_INDEX_PATTERNS), checked and de-duplicated."""
    out = tuple(dict.fromkeys(patterns or DEFAULT_INDEX_PATTERNS))
    bad = [p for p in out if not _INDEX_PATTERN.fullmatch(p)]
    if bad:
        raise ValueError(f"not an Elasticsearch index pattern: {', '.join(map(repr, bad))}")
    return out


def _esql_from(query: str, patterns: tuple[str, ...]) -> str:
    """The ES|QL query reading `patterns`: the pipeline writes `from <INDEX> metadata ...`."""
    head = f"from {INDEX} metadata "
    if not query.startswith(head):
        raise RuntimeError(f"unexpected ES|QL source command: {query[:60]!r}")  # a pipeline change, not a language limit
    return f"from {', '.join(patterns)} metadata " + query[len(head) :]


RELATED_INTEGRATIONS = [{"package": "aws", "integration": "cloudtrail", "version": ">=2.0.0"}]

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
    """Kibana `required_fields`: name, type and `ecs` (whether ECS defines the field). Kibana's import schema
    before 8.14 requires all three (RequiredField = {name, type, ecs: boolean}: x-pack/plugins/
    security_solution/common/api/detection_engine/model/rule_schema/common_attributes/misc_attributes.ts
    @ a54dd07f5f36, used by import_rules/rule_to_import.ts @ ee728023c780); newer ones accept and ignore it
    (rule_to_import.ts @ 265d1e29fc76, RequiredFieldInput)."""
    out = {}
    for name in names:
        try:
            home = ecs_field(name)
        except NoEcsHome:
            if name not in ECS_PINNED_FIELDS:  # a pinned field is read where the rule pins it (ecs.py)
                continue
            home = ECS_PINNED_FIELDS[name][0]
        out[home] = {"name": home, "type": ecs_field_type(home), "ecs": home in ECS_DEFINED_FIELDS}
    return [out[k] for k in sorted(out)]


def _rule_fields(pack: Pack, pack_rule: PackRule) -> list[str]:
    if not pack_rule.is_correlation:
        return detection_fields(pack_rule.rule)
    names: list[str] = []
    for ref in pack_rule.rule.rules:
        names += detection_fields(ref.rule)
    return names + list(pack_rule.rule.group_by or [])


# ------------------------------------------------------------------------------ investigation guide
#: Where the guide's triage sections look, by CloudTrail field (the rule's `fields:` say which exist).
_TRIAGE = (
    ("Who acted", ("userIdentity.",)),
    ("From where", ("sourceIPAddress", "userAgent", "awsRegion", "tlsDetails.")),
    ("On whom or what", ("requestParameters.", "responseElements.", "additionalEventData.", "resources")),
    ("Outcome", ("errorCode", "errorMessage")),
    ("Account and time", ("recipientAccountId", "eventTime", "eventName", "eventSource")),
)
_PRINCIPAL = "aws.cloudtrail.user_identity.arn"
_SOURCE = "source.address"
#: Set by the integration from requestParameters.userName: the IAM user an API call acted on.
_TARGET_USER = "user.target.name"


@cache
def _guide_text() -> dict:
    return yaml.safe_load(files("cloudtrail_pack").joinpath("data/elastic/investigation.yml").read_text(encoding="utf-8"))


def _shown_field(name: str) -> str | None:
    try:
        return ecs_field(name, display=True)
    except NoEcsHome:
        return None


def _listed_fields(pack: Pack, pack_rule: PackRule) -> list[str]:
    rule = pack_rule.rule
    names = list(rule.fields or [])
    if pack_rule.is_correlation:
        for ref in rule.rules:
            names += list(pack.by_id(str(ref.rule.id)).rule.fields or [])
        names += list(rule.group_by or [])
    return list(dict.fromkeys(names))


def _pivots(language: str, patterns: tuple[str, ...]) -> list[tuple[str, str]]:
    """(what, query) pairs: the pivots in the rule's language, and in KQL for Timeline/Discover."""
    source = ", ".join(patterns)
    pivots = [
        ("Other actions by the same principal", f'{_PRINCIPAL} : "<principal ARN>"'),
        ("Other actions from the same source", f'{_SOURCE} : "<source address>"'),
        ("The target user's recent activity, as actor or as target", f'user.name : "<user>" or {_TARGET_USER} : "<user>"'),
    ]
    queries = [("KQL", q) for _, q in pivots]
    if language == "lucene":
        queries = [("Lucene", f'{_PRINCIPAL}:"<principal ARN>"'), ("Lucene", f'{_SOURCE}:"<source address>"'),
                   ("Lucene", f'user.name:"<user>" OR {_TARGET_USER}:"<user>"')]
    elif language == "eql":
        queries = [("EQL", f'any where {_PRINCIPAL} == "<principal ARN>"'), ("EQL", f'any where {_SOURCE} == "<source address>"'),
                   ("EQL", f'any where user.name == "<user>" or {_TARGET_USER} == "<user>"')]
    elif language == "esql":
        tail = "| stats events = count(*) by event.action, aws.cloudtrail.error_code | sort events desc"
        queries = [("ES|QL", f'from {source} | where {_PRINCIPAL} == "<principal ARN>" {tail}'),
                   ("ES|QL", f'from {source} | where {_SOURCE} == "<source address>" {tail}'),
                   ("ES|QL", f'from {source} | where user.name == "<user>" or {_TARGET_USER} == "<user>" {tail}')]
    out = []
    for (what, kql), (lang, query) in zip(pivots, queries):
        out.append((what, f"{lang}: `{query}`" + ("" if lang == "KQL" else f"; KQL (Timeline, Discover): `{kql}`")))
    return out


def _what_fires(pack_rule: PackRule, language: str) -> str:
    rule = pack_rule.rule
    if not pack_rule.is_correlation:
        return "The alert carries the one CloudTrail event that matched."
    group = ", ".join(f"`{ecs_field(g)}`" for g in rule.group_by or [])
    window = _duration(_timespan_seconds(rule))
    suppressed = ("Further sequences of the same group are suppressed into this alert "
                  "(`kibana.alert.suppression.docs_count`).")
    if rule.type == SigmaCorrelationType.TEMPORAL_ORDERED:  # EQL only (ES|QL refuses ordered correlations)
        first, second = ordered_steps(rule)
        names = [" or ".join(rule.rules[i].rule.title for i in step) for step in (first, second)]
        return (f"The alert is the sequence of two events with the same {group} within {window} (event time): "
                f"{names[0]}, then {names[1]}; its building-block alerts are the events. {suppressed}")
    count = int(rule.condition.count)
    if language == "eql":
        return (f"The alert is the sequence of {count} events with the same {group} within {window} of each other "
                f"(event time); its building-block alerts are the events. {suppressed}")
    if rule.type == SigmaCorrelationType.VALUE_COUNT:
        counted = f"`value_count` >= {count} distinct values of `{ecs_field(rule.condition.fieldref)}`"
    else:
        counted = f"`event_count` >= {count}"
    return (f"The alert is one row per {group} with {counted}, `first_seen` and `last_seen` (event "
            f"time, at most {window} apart) and the values of the listed fields; the events themselves are found "
            "with the pivots below. Later runs that see the same burst are suppressed into this alert.")


def _outcome_text(pack_rule: PackRule) -> str:
    """What the alert's severity says about the outcome (see `severity_mapping`)."""
    if pack_rule.is_correlation:
        return ""
    level = SEVERITY[pack_rule.level][0]
    if severity_mapping(pack_rule):
        return (f"A successful call raises a {level} alert, a denied or failed one (`{OUTCOME_FIELD}: failure`, "
                f"`aws.cloudtrail.error_code` set) a {failure_severity(pack_rule.level)} one: both are worth a look, "
                "the first changed something.")
    return (f"Successful and denied calls both raise {level} alerts; `{OUTCOME_FIELD}` (success or failure) tells "
            "them apart.")


def _note(pack: Pack, pack_rule: PackRule, language: str, version: str, patterns: tuple[str, ...]) -> str:
    """The investigation guide (templates/note.md.j2), in the Markdown layout of Elastic's prebuilt rules (## Triage
    and analysis, ### Investigating, #### Possible investigation steps, ### False positive analysis, ### Response and
    remediation), built from the Sigma rule: description, fields, false positives, ATT&CK tags, plus the
    per-technique text of data/elastic/investigation.yml."""
    rule = pack_rule.rule
    text = _guide_text()
    techniques = [r.technique_id.split(".")[0] for r in attack_refs(pack_rule)]
    per_technique = [text["techniques"][t] for t in dict.fromkeys(techniques) if t in text["techniques"]]
    listed = _listed_fields(pack, pack_rule)
    triage = []
    for heading, prefixes in _TRIAGE:
        fields = [f for f in listed if f.startswith(prefixes) or f in prefixes]
        shown = list(dict.fromkeys(f"`{h}`" for f in fields if (h := _shown_field(f))))
        if shown:
            triage.append((heading, ", ".join(shown)))
    additional = (
        f"Sigma rule {rule.title}, `{pack_rule.path}` (id `{pack_rule.id}`), converted to {LANGUAGE_TITLES[language]} by "
        f"{PACK_NAME} {version} with pySigma's Elasticsearch backend and the `ecs_cloudtrail` pipeline. Fields are "
        f"read where Elastic's AWS integration indexes them (elastic/integrations {ECS_PIPELINE_PATH} @ {ECS_INTEGRATION_COMMIT[:12]}). "
        + _case_note(pack, pack_rule, language)
    )
    return render(
        __name__, "note.md.j2",
        title=rule.title,
        description=rule.description or rule.title,
        what_fires=" ".join(t for t in (_what_fires(pack_rule, language), _outcome_text(pack_rule)) if t),
        triage=triage,
        investigate=[t for entry in per_technique for t in entry.get("investigate", [])],
        pivots=_pivots(language, patterns),
        false_positives=[str(f) for f in rule.falsepositives or []],
        respond=[t for entry in per_technique for t in entry.get("respond", [])] + list(text["generic"]["respond"]),
        additional=additional,
    )


def _case_note(pack: Pack, pack_rule: PackRule, language: str) -> str:
    """What case-sensitive keyword matching means for this rule, from the schema's CANONICAL_CASE: Sigma
    compares case-insensitively; EQL's `:` does too, Lucene and ES|QL do not."""
    if language == "eql":
        return "EQL compares strings case-insensitively, as Sigma does."
    names = list(dict.fromkeys(_rule_fields(pack, pack_rule)))
    canonical = [n for n in names if n in CANONICAL_CASE]
    other = [n for n in names if n not in CANONICAL_CASE]
    text = f"{LANGUAGE_TITLES[language]} compares keywords case-sensitively, where Sigma does not."
    if canonical:
        text += f" Still exact for {', '.join(canonical)}: CloudTrail writes their values in one letter case."
    if other:
        text += f" The rule's values for {', '.join(other)} match only as spelled in the rule (as AWS writes them)."
    return text


# -------------------------------------------------------------------------------------- rule text
def _common(pack: Pack, pack_rule: PackRule, language: str, version: str, rule_version: int, patterns: tuple[str, ...]) -> dict:
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
        "Resources: Investigation Guide",
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
        "severity_mapping": severity_mapping(pack_rule),
        "exceptions_list": [],
        "actions": [],
        "related_integrations": RELATED_INTEGRATIONS,
        "required_fields": _required_fields(_rule_fields(pack, pack_rule)),
        "setup": (
            "Requires AWS CloudTrail events indexed by Elastic's AWS integration (data stream "
            f"{INDEX.replace('*', 'default')}) or the Filebeat AWS module, whose ingest pipelines set the ECS fields this "
            "rule reads and event.ingested, on which the rule is scheduled. The rule searches the index patterns it "
            f"lists ({', '.join(patterns)}): Filebeat AWS module users add filebeat-* to them (ES|QL: to FROM), or build "
            "the pack with `--elastic-index logs-aws.cloudtrail-* --elastic-index filebeat-*`. {retain}. Correlation "
            "rules use alert suppression (Platinum subscription or higher)."
        ),
        "note": _note(pack, pack_rule, language, version, patterns),
        "meta": {"sigma_id": pack_rule.id, "sigma_path": str(pack_rule.path), "pack_version": version},
    }


#: Kibana's building_block_type: "Building block rules ... generate alerts that do not appear in the Alerts table by
#: default"; a correlation step (PackRule.step_only) is one, so it raises no alert an analyst triages.
BUILDING_BLOCK = "default"


def _language_rule(release: Release, pack_rule: PackRule, language: str, patterns: tuple[str, ...]) -> dict:
    """The Kibana rule of one Sigma rule in one language; Refusal if the language cannot express it."""
    pack = release.pack
    result = release.result(pack_rule, language)
    if isinstance(result, Refusal):
        return result
    (query,) = result.queries
    rule = dict(_common(pack, pack_rule, language, release.version, release.rule_versions[pack_rule.id], patterns))
    kind = {"lucene": "query", "eql": "eql", "esql": "esql"}[language]
    if pack_rule.is_correlation:
        group_by = [ecs_field(name) for name in pack_rule.rule.group_by or []]
        if not 1 <= len(group_by) <= 3:
            return Refusal("alert suppression groups by 1 to 3 fields; this correlation groups by "
                           f"{len(group_by)}, so one burst would raise several alerts")
        rule.update(_schedule(_correlation_lookback_s(pack_rule.rule)))
        rule.update(alert_suppression=_suppression(group_by, _suppression_s(pack_rule.rule)))
    else:
        rule.update(_schedule(INTERVAL_S + OVERLAP_S))
    if language == "esql" and not pack_rule.is_correlation:
        query = esql_keep(query, pack_rule.rule)
    if language == "esql":
        rule.update(type="esql", language="esql", query=_esql_from(query, patterns))
    else:
        rule.update(type=kind, language=language, query=query, index=list(patterns))
    for extra in query_notes(query):
        rule["note"] += f"\n\n{extra}"
    retain = retain_note(query)
    rule["setup"] = rule["setup"].replace("{retain}", retain[:1].upper() + retain[1:])
    highlighted = investigation_fields(pack_rule.rule, pack_rule.is_correlation)
    if highlighted:
        rule["investigation_fields"] = {"field_names": highlighted}
    if pack_rule.step_only:  # a correlation step: its alerts are hidden from the Alerts table (Kibana building block)
        rule["building_block_type"] = BUILDING_BLOCK
    return rule


def build_kibana_rules(release: Release, index_patterns: tuple[str, ...] | list[str] | None = None) -> ElasticBuild:
    """All rules of the pack in every language that can express them, in pack order then language order.
    A language's refusal is recorded with the compiler's reason, word for word as in the build table."""
    use_local_attack_data()
    patterns = checked_index_patterns(index_patterns if index_patterns is not None else release.options.elastic_index)
    build = ElasticBuild()
    for pack_rule in release.pack.rules:
        for language in LANGUAGES:
            rule = _language_rule(release, pack_rule, language, patterns)
            if isinstance(rule, Refusal):
                build.skipped.append(Skipped(pack_rule.id, language, rule.reason))
            else:
                build.rules.append(rule)
    return build


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_kibana_rules(release: Release, out: Path, index_patterns: tuple[str, ...] | list[str] | None = None) -> Path:
    """Write the import file (and the skipped-language report beside it); returns the NDJSON path.
    `index_patterns` (default: the release's `elastic_index` option) sets the query/eql rules' `index` and
    ES|QL's FROM."""
    build = build_kibana_rules(release, index_patterns)
    path = Path(out) / NDJSON_NAME
    put(path, "".join(dumps(rule) + "\n" for rule in build.rules))
    skipped = [
        {"sigma_id": s.sigma_id, "language": s.language, "rule_id": rule_uuid(s.sigma_id, s.language), "reason": s.reason}
        for s in build.skipped
    ]
    put(path.parent / SKIPPED_NAME, json_text(skipped))
    return path


def write(release: Release, out: Path) -> None:
    """The release writer: the NDJSON import file and the report of what each language left out."""
    write_kibana_rules(release, out)


def read_kibana_rules(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
