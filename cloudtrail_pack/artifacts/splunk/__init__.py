"""The Splunk release artifact: a Splunk app of scheduled alerts, one per rule, as a deterministic .tgz.

Every search is the Splunk target's compiled query (the release's compiled `splunk` results: the pySigma Splunk
backend with our `splunk_cloudtrail` pipeline), written into savedsearches.conf with one line added to a base
rule's search, the `outcome` field (see "Outcome" below). The pipeline
already gives each search its shape, `` `cloudtrail_detection_pack_cloudtrail` (<query>) ... |
`cloudtrail_detection_pack_<slug>_filter` ``; this module adds what Splunk and Splunk Enterprise Security need around it, each file from
its template in templates/ (the stanzas' settings are computed here):

    <app>/default/app.conf             id, version (the pack's), label, description
    <app>/default/savedsearches.conf   one scheduled alert per rule (see SCHEDULE and the decisions below)
    <app>/default/macros.conf          the scope macro and one empty `..._<slug>_filter` per search
    <app>/metadata/default.meta        readable by all, writable by admins, exported to all apps
    <app>/README.md                    installing, the macros to edit, what each search does
    <app>/app.manifest                 Packaging Toolkit manifest: id, version, search heads only

Decisions (docs/splunk.md explains them to users):

* Disabled by default, as Splunk's security_content ships its detections: the scope macro must point at
  the user's index first, and each search is enabled once it is tuned.
* Schedule (schedule.py): every 10 minutes, each search on its own minute of the ten (`<n>-59/10`) with
  `allow_skew`, over the events *indexed* in `[-12m@m, -2m@m)` within 25 hours of event time: each event is
  searched exactly once, whenever it is indexed, up to 24 hours after the call. A correlation reads every event
  indexed before the window closes and reports a window only in the run that completes it
  (schedule.scheduled_correlation). Continuous scheduling (`realtime_schedule = 0`) skips no run.
  tests/execution/test_splunk_execution.py replays every fixture through this schedule, delays up to 24 hours.
* Throttling: one alert per result (`alert.digest_mode = 0`), suppressed for 1 hour per combination of
  who, on what, where and with which outcome (the rule's `userIdentity.arn`, `eventName`,
  `recipientAccountId`, `errorCode` and `requestParameters.*` output fields) or, for a correlation, per
  group-by value. The overlapping runs find an event again; its key is the same, so it alerts once.
* Enterprise Security: each result becomes a notable event (title with the actor, target and account as
  field tokens, the rule's description, severity = Sigma level, security domain `access`, a drill-down
  over the same actor and target) and risk events (actor and target user as `user`, the account as
  `other`, scores from the level), with the settings of ESCU's template (see `es_settings`).
* Severity: Sigma level -> alert.severity: informational 2 (info), low 3, medium 4, high 5, critical 6.
* Outcome: a base rule's search ends in `| eval outcome=if(isnull(errorCode), "succeeded", "denied or failed")`
  (before its tuning macro, which can filter on it), and the notable's title and risk message end in
  `($outcome$)`, so Incident Review says whether the call changed something before the notable is opened. The
  severity and risk scores stay the level's: ES's notable and risk analysis actions take fixed values per search
  (contentctl's template writes one `severity` and a fixed `risk_score` per risk object), and ES documents no
  per-result override.
* ATT&CK: `action.correlationsearch.annotations = {"mitre_attack": [...]}` from the rule's
  `attack.tNNNN` tags, with `action.correlationsearch.enabled/label`, so Splunk Enterprise Security lists
  the searches as correlation searches with their techniques.

A rule the Splunk target cannot express (SigmaFeatureNotSupportedByBackendError) is left out and named
in the README, as the other SIEM writers do; any other compile error fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.pipelines.cloudtrail.splunk import (
    FILTER_DEFINITION,
    MACRO_PREFIX,
    SCOPE_DEFINITION,
    SCOPE_MACRO,
    filter_macro,
    scoped,
)

from ...attack import attack_refs
from ...compilation import Refusal
from ...pack import PackError, PackRule, shown
from ...release.archive import tgz_bytes
from ...release.context import STEP_ONLY, Release
from ..common import conf, put, render
from . import schedule

TARGET = "splunk"  # the compiled target (registry.TARGETS) whose searches the app ships
NEEDS = ((TARGET, "default"),)  # what the release compiles for this writer
APP_ID = MACRO_PREFIX  # the app id is the namespace of the macros it exports
APP_LABEL = "CloudTrail Detection Pack"
APP_DESCRIPTION = (
    "Scheduled alerts for AWS CloudTrail, compiled from the pack's Sigma rules: IAM users deleted or locked "
    "out (ATT&CK T1531) and accounts leaving the AWS Organization (T1666)."
)
AUTHOR = "CloudTrail Detection Pack"
STANZA = "CloudTrail - {title} - Rule"

SUPPRESS_PERIOD = "1h"
#: Sigma level -> savedsearches.conf alert.severity (1 debug, 2 info, 3 low, 4 medium, 5 high, 6 critical).
SEVERITY = {"informational": 2, "low": 3, "medium": 4, "high": 5, "critical": 6}
#: Output fields that identify who did what to whom, where, with which outcome: an alert is suppressed
#: only for results that agree on all of them (plus every `requestParameters.*` output field). The
#: outcome (errorCode) is part of the key, so a denied attempt and a later successful call on the same
#: target are two alerts.
SUPPRESS_FIELDS = ("userIdentity.arn", "eventName", "recipientAccountId", "errorCode")

# --- Splunk Enterprise Security: notable events and risk events ---------------------------------------
#
# The settings are those of the template ESCU's detections are built from: splunk/contentctl,
# contentctl/output/templates/savedsearches_detections.j2 at commit
# fc0098898946fd681e9f9758c4512cfe17f32b52 (action.notable + action.notable.param.{nes_fields,
# rule_description, rule_title, security_domain, severity}; action.risk + action.risk.param.{_risk,
# _risk_message, _risk_score = 0, verbose = 0}; action.correlationsearch.*; realtime_schedule = 0;
# allow_skew). The drill-downs are ES 7+'s `action.notable.param.drilldown_searches`, a JSON list of {name, search,
# earliest_offset, latest_offset} as contentctl writes it (contentctl/objects/drilldown.py: the detection's
# events of the risk objects over $info_min_time$..$info_max_time$, and their risk events of the last 7 days,
# `index = risk starthoursago = 168 endhoursago = 0 | stats ... by <field> | search <field> = $<field>$`). The
# `_risk` list holds risk objects then threat objects ({threat_object_field, threat_object_type}), as
# contentctl's Detection.risk serializes its rba section (objects/rba.py: ThreatObjectType.IP_ADDRESS).
# ES reads `$field$` in these texts as the value of the result's field ("Create a risk message to add
# context for investigations", ES 7.x RBA manual), so a rule title or description holding a `$` is
# refused rather than shipped with a token nobody meant.

#: Sigma level -> risk score of each risk object. contentctl derives a notable's severity from its
#: highest risk score in bands 0-20 informational, 21-40 low, 41-60 medium, 61-80 high, 81-100 critical
#: (contentctl/objects/abstract_security_content_objects/detection_abstract.py, `severity`, citing ES
#: 7.3.2 "Risk scoring"); each level gets the top of its band, so that reading gives back the level.
RISK_SCORE = {"informational": 20, "low": 40, "medium": 60, "high": 80, "critical": 100}
#: ES notable severities are the Sigma level names (contentctl/objects/enums.py, RiskSeverity).
NOTABLE_SEVERITY = {level: level for level in RISK_SCORE}
#: Every rule of the pack detects a change to who can get into an AWS account (T1531 removes a user's
#: access, T1666 removes an account from the organization's control): ES's "access" domain.
SECURITY_DOMAIN = "access"
#: Who acted, on which account.
ACTOR_FIELD = "userIdentity.arn"
#: The principal that risk accrues to: a role session's ARN (assumed-role/<role>/<session>) names one session, so
#: risk would split per session; the role (the session issuer) is scored instead, else the caller's own ARN (an
#: IAM user, root). CloudTrail User Guide, "CloudTrail userIdentity element": sessionContext.sessionIssuer.arn.
PRINCIPAL_FIELD = "principal_arn"
PRINCIPAL_EVAL = f"| eval {PRINCIPAL_FIELD}=coalesce('userIdentity.sessionContext.sessionIssuer.arn', '{ACTOR_FIELD}')"
#: Where the call came from: ES's threat object (an IP address, or the AWS service that called on the user's behalf).
SOURCE_FIELD = "sourceIPAddress"
ACCOUNT_FIELD = "recipientAccountId"
#: The target of the call, with its ES risk object type, when the rule lists it in `fields:` (the first listed
#: wins): an IAM user, an IAM Identity Center user (identity store user id), a member account, an IAM group.
TARGET_FIELDS = {
    "requestParameters.userName": "user",
    "requestParameters.userId": "user",
    "requestParameters.accountId": "other",
    "requestParameters.groupName": "other",
}
#: The result field that says whether the call succeeded (no errorCode: CloudTrail writes errorCode only for
#: a failed call) or was denied or failed; Search Reference, "eval" and "Comparison and Conditional functions",
#: if(<predicate>, <true value>, <false value>) and isnull().
OUTCOME_FIELD = "outcome"
OUTCOME_EVAL = f'| eval {OUTCOME_FIELD}=if(isnull(errorCode), "succeeded", "denied or failed")'
DRILLDOWN_EARLIEST = "$info_min_time$"
DRILLDOWN_LATEST = "$info_max_time$"
RISK_DRILLDOWN = (
    "index = risk starthoursago = 168 endhoursago = 0 | stats count values(search_name) values(risk_message) "
    "values(analyticstories) values(annotations._all) values(annotations.mitre_attack.mitre_tactic) by {field} "
    "| search {field} = ${field}$"
)



@dataclass(frozen=True)
class SavedSearch:
    rule: PackRule
    name: str  # the savedsearches.conf stanza
    search: str
    settings: dict  # every other setting of the stanza



# --- compiling ---------------------------------------------------------------------------------------


def compile_searches(release: Release) -> tuple[dict[str, str], dict[str, str]]:
    """({rule id: search}, {rule id: why the app has no search for it}), in pack order: the Splunk target cannot
    express it, or it is a correlation step (`step_only`), whose search the correlation's embeds: a scheduled
    search of its own would be an alert and a notable on the step alone."""
    searches: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for rule in release.pack.rules:
        result = release.result(rule, TARGET)
        if isinstance(result, Refusal):
            skipped[rule.id] = result.reason
            continue
        if rule.step_only:
            skipped[rule.id] = STEP_ONLY
            continue
        if len(result.queries) != 1:
            raise PackError(shown(rule.source), f"Splunk SPL: rule {rule.id} compiles to {len(result.queries)} searches; expected one")
        searches[rule.id] = result.queries[0]
    return searches, skipped


def attack_techniques(rule: PackRule) -> list[str]:
    """ATT&CK technique ids from the rule's `attack.tNNNN[.NNN]` tags."""
    return sorted({ref.technique_id for ref in attack_refs(rule)})


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def suppress_fields(rule: PackRule) -> list[str]:
    """The fields per whose combination of values an alert is suppressed for SUPPRESS_PERIOD.

    A base rule: the SUPPRESS_FIELDS and `requestParameters.*` fields of its output (`fields:`), in that
    order; a correlation: its group-by fields. Splunk can only suppress on fields the results carry.
    """
    r = rule.rule
    if isinstance(r, SigmaCorrelationRule):
        return list(r.group_by or [])
    if not r.fields:
        return [ACTOR_FIELD]
    picked = [f for f in r.fields if f in SUPPRESS_FIELDS or f.startswith("requestParameters.")]
    return picked or [ACTOR_FIELD]


@dataclass(frozen=True)
class Entities:
    """The result fields that name who acted (actor), on what (target) and in which account."""

    actor: str | None
    target: str | None
    account: str | None
    source: str | None = None  # where the call came from (SOURCE_FIELD), when the results carry it

    @property
    def principal(self) -> str | None:
        """The field risk accrues to: PRINCIPAL_FIELD, which every search computes from the actor's identity."""
        return PRINCIPAL_FIELD if self.actor else None

    @property
    def pivot(self) -> list[str]:
        """The fields an analyst pivots on: actor and target, else the account."""
        return [f for f in (self.actor, self.target) if f] or [f for f in (self.account,) if f]


def entities(rule: PackRule) -> Entities:
    """Actor, target and account among the fields the rule's results carry.

    A base rule's results carry its `fields:` (the search ends in `| table`), or every event field when
    it lists none; a correlation's results are the events that reached the threshold, whose one target
    is not the incident's, so a correlation has no target.
    """
    r = rule.rule
    if isinstance(r, SigmaCorrelationRule):
        actor = ACTOR_FIELD if ACTOR_FIELD in (r.group_by or []) else None
        return Entities(actor, None, ACCOUNT_FIELD, SOURCE_FIELD)
    if not r.fields:
        return Entities(ACTOR_FIELD, None, ACCOUNT_FIELD, SOURCE_FIELD)
    target = next((f for f in r.fields if f in TARGET_FIELDS), None)
    return Entities(
        ACTOR_FIELD if ACTOR_FIELD in r.fields else None,
        target,
        ACCOUNT_FIELD if ACCOUNT_FIELD in r.fields else None,
        SOURCE_FIELD if SOURCE_FIELD in r.fields else None,
    )


def _token(field: str) -> str:
    return f"${field}$"


def notable_title(title: str, e: Entities, outcome: bool = False) -> str:
    """The notable's title: the rule's title with the actor, target and account as ES field tokens, and the
    outcome (`OUTCOME_FIELD`) where the search computes it."""
    text = title
    if e.actor:
        text += f" by {_token(e.actor)}"
    if e.target:
        text += f" on {_token(e.target)}"
    if e.account and e.account != e.target:
        text += f" in account {_token(e.account)}"
    if outcome:
        text += f" ({_token(OUTCOME_FIELD)})"
    return text


def with_outcome(search: str, rule: PackRule) -> str:
    """The search with the fields ES reads that CloudTrail does not hold: PRINCIPAL_FIELD (before a base rule's
    `| table`, which keeps it), and for a base rule OUTCOME_EVAL, before its tuning macro (a correlation's results
    are its events that reached the threshold, of mixed outcomes: none)."""
    macro = f"\n| `{filter_macro(rule.rule)}`"
    body = search[: -len(macro)]
    if isinstance(rule.rule, SigmaCorrelationRule):
        return body + "\n" + PRINCIPAL_EVAL + macro
    head, table, fields = body.rpartition("\n| table ")
    if table and "\n" not in fields:
        body = f"{head}\n{PRINCIPAL_EVAL}{table}{fields},{PRINCIPAL_FIELD}"
    else:
        body += "\n" + PRINCIPAL_EVAL
    return body + "\n" + OUTCOME_EVAL + macro


def risk_objects(rule: PackRule, e: Entities) -> list[dict]:
    """contentctl's `_risk` list: the principal (the role of a role session) and a target user as `user`, the
    account as `other`; then where the call came from as an `ip_address` threat object."""
    score = RISK_SCORE[rule.level]
    objects = []
    if e.principal:
        objects.append((e.principal, "user"))
    if e.target:
        objects.append((e.target, TARGET_FIELDS[e.target]))
    if e.account:
        objects.append((e.account, "other"))
    risk = [{"risk_object_field": f, "risk_object_type": t, "risk_score": score} for f, t in objects]
    threats = [{"threat_object_field": e.source, "threat_object_type": "ip_address"}] if e.source else []
    return risk + threats


def drilldowns(e: Entities) -> list[dict]:
    """The notable's drill-down searches: every CloudTrail event of the same actor on the same target over the time
    range the alerting run covered, and the risk events of the principal (else the account) of the last 7 days."""
    name = "View the CloudTrail events of " + " on ".join(_token(f) for f in e.pivot)
    terms = [f'{f}="{_token(f)}"' for f in e.pivot]
    expression = terms[0] if len(terms) == 1 else "(" + " AND ".join(terms) + ")"
    scored = e.principal or e.account
    return [
        {"name": name, "search": f"`{SCOPE_MACRO}` {expression}",
         "earliest_offset": DRILLDOWN_EARLIEST, "latest_offset": DRILLDOWN_LATEST},
        {"name": f"View the risk events of {_token(scored)} in the last 7 days", "search": RISK_DRILLDOWN.format(field=scored)},
    ]


def es_settings(rule: PackRule, title: str) -> dict[str, str]:
    """The notable and risk settings of the stanza (see the comment above RISK_SCORE)."""
    e = entities(rule)
    texts = {"title": title, "description": _one_line(rule.rule.description)}
    for what, text in texts.items():
        if "$" in text:
            raise PackError(shown(rule.source), f"Splunk ES: the rule's {what} holds '$', which ES reads as a field token")
    objects = risk_objects(rule, e)
    if not objects:
        raise PackError(
            rule.path,
            f"Splunk ES: the results carry neither {ACTOR_FIELD} nor {ACCOUNT_FIELD}; list them in `fields:` "
            "so that ES has a risk object",
        )
    notable = notable_title(title, e, outcome=not isinstance(rule.rule, SigmaCorrelationRule))
    return {
        "action.notable": "1",
        "action.notable.param.drilldown_searches": json.dumps(drilldowns(e), separators=(", ", ": ")),
        "action.notable.param.nes_fields": ",".join(dict.fromkeys(f for f in (e.actor, e.target, e.account) if f)),
        "action.notable.param.rule_description": texts["description"] or title,
        "action.notable.param.rule_title": notable,
        "action.notable.param.security_domain": SECURITY_DOMAIN,
        "action.notable.param.severity": NOTABLE_SEVERITY[rule.level],
        "action.risk": "1",
        "action.risk.param._risk": json.dumps(objects, separators=(", ", ": ")),
        "action.risk.param._risk_message": notable,
        "action.risk.param._risk_score": "0",
        "action.risk.param.verbose": "0",
    }


def _description(rule: PackRule) -> str:
    text = _one_line(rule.rule.description) or rule.title
    fps = [_one_line(fp) for fp in (rule.rule.falsepositives or []) if _one_line(fp)]
    if fps:
        text += " False positives: " + " ".join(fp if fp.endswith(".") else fp + "." for fp in fps)
    return f"{text} (Sigma rule {rule.id}, level {rule.level}.)"


def saved_search(rule: PackRule, search: str, slot: int = 0) -> SavedSearch:
    """The stanza of `rule` (`slot`: its place in the pack, which staggers the schedules)."""
    if rule.level not in SEVERITY:
        raise PackError(shown(rule.source), f"Splunk: no alert severity for Sigma level {rule.level!r}")
    macro = filter_macro(rule.rule)
    if macro != f"{MACRO_PREFIX}_{rule.slug}_filter" or not scoped(search) or not search.endswith(
        f"| `{macro}`"
    ):
        raise PackError(shown(rule.source), f"Splunk: search of {rule.id} does not have the `{SCOPE_MACRO}` ... `{macro}` shape")
    title = rule.title.translate({ord(c): None for c in "[]"})
    timespan = None
    if isinstance(rule.rule, SigmaCorrelationRule):
        timespan = rule.rule.timespan.seconds
        try:
            search = schedule.scheduled_correlation(search)
        except schedule.NotACorrelationSearch as e:
            raise PackError(shown(rule.source), f"Splunk: correlation {rule.id}: {e}") from None
    search = with_outcome(search, rule)
    annotations = {"mitre_attack": attack_techniques(rule)}
    settings = {
        "action.correlationsearch.annotations": json.dumps(annotations, separators=(", ", ": ")),
        "action.correlationsearch.enabled": "1",
        "action.correlationsearch.label": _one_line(title),
        **es_settings(rule, _one_line(title)),
        "alert.digest_mode": "0",
        "alert.severity": str(SEVERITY[rule.level]),
        "alert.suppress": "1",
        "alert.suppress.fields": ",".join(suppress_fields(rule)),
        "alert.suppress.period": SUPPRESS_PERIOD,
        "alert.track": "1",
        "counttype": "number of events",
        "description": _description(rule),
        "disabled": "1",
        **schedule.settings(slot, timespan),
        "enableSched": "1",
        "quantity": "0",
        "realtime_schedule": "0",
        "relation": "greater than",
        "request.ui_dispatch_app": "search",
        "request.ui_dispatch_view": "search",
        "schedule_window": "auto",
    }
    return SavedSearch(rule, STANZA.format(title=_one_line(title)), search, dict(sorted(settings.items())))


def saved_searches(release: Release) -> tuple[list[SavedSearch], dict[str, str]]:
    searches, skipped = compile_searches(release)
    out = [saved_search(release.pack.by_id(rule_id), search, slot) for slot, (rule_id, search) in enumerate(searches.items())]
    for what, key in (("stanza", lambda s: s.name), ("tuning macro", lambda s: filter_macro(s.rule.rule))):
        seen: dict[str, SavedSearch] = {}
        for s in out:
            if key(s) in seen:
                raise PackError(shown(s.rule.source), f"Splunk: {what} {key(s)!r} also used by {seen[key(s)].rule.path}")
            seen[key(s)] = s
    return out, skipped


# --- the app's files (templates/) ---------------------------------------------------------------------


def conf_value(text: str) -> str:
    """A .conf value: a line break becomes a backslash continuation (Splunk keeps the line break)."""
    return str(conf(text))


def conf_stanza(name: str, settings: dict) -> str:
    """One stanza of a .conf file (templates/stanza.conf.j2)."""
    return render(__name__, "stanza.conf.j2", name=name, settings=settings)


def _readme_entry(s: SavedSearch) -> dict:
    risk = json.loads(s.settings["action.risk.param._risk"])
    return {
        "name": s.name,
        "description": s.rule.rule.description or "",
        "id": s.rule.id,
        "path": s.rule.path.as_posix(),
        "level": s.rule.level,
        "severity": s.settings["alert.severity"],
        "techniques": ", ".join(attack_techniques(s.rule)) or "-",
        "macro": filter_macro(s.rule.rule),
        "suppressed": s.settings["alert.suppress.fields"],
        "notable": s.settings["action.notable.param.rule_title"],
        "notable_severity": s.settings["action.notable.param.severity"],
        "risk_objects": ", ".join(
            f"`{o['risk_object_field']}` ({o['risk_object_type']}, {o['risk_score']})" if "risk_object_field" in o
            else f"threat object `{o['threat_object_field']}` ({o['threat_object_type']})"
            for o in risk
        ),
        "search": s.search,
    }


def app_files(release: Release, version: str | None = None) -> dict[str, bytes]:
    """The app's files by path inside the app folder (`version`: the release's unless given)."""
    version = version or release.version
    searches, skipped = saved_searches(release)
    app = {"label": APP_LABEL, "version": version, "app_id": APP_ID, "author": AUTHOR, "description": APP_DESCRIPTION,
           "scope_macro": SCOPE_MACRO, "scope_definition": SCOPE_DEFINITION}
    texts = {
        "README.md": render(
            __name__, "README.md.j2", **app, suppress_period=SUPPRESS_PERIOD, index_earliest=schedule.INDEX_EARLIEST,
            index_latest=schedule.INDEX_LATEST, max_delay=schedule.MAX_DELAY_HOURS,
            searches=[_readme_entry(s) for s in searches],
            skipped=[(rule_id, release.pack.by_id(rule_id).title, reason) for rule_id, reason in skipped.items()],
        ),
        "app.manifest": app_manifest(version),
        "default/app.conf": render(__name__, "app.conf.j2", **app),
        "default/macros.conf": render(__name__, "macros.conf.j2", **app, filter_definition=FILTER_DEFINITION,
                                      filters=[(s.name, filter_macro(s.rule.rule)) for s in searches]),
        "default/savedsearches.conf": render(__name__, "savedsearches.conf.j2", **app,
                                             stanzas=[(s.name, {**s.settings, "search": s.search}) for s in searches]),
        "metadata/default.meta": render(__name__, "default.meta.j2"),
    }
    return {path: text.encode("utf-8") for path, text in texts.items()}


def app_manifest(version: str) -> str:
    """Packaging Toolkit app.manifest (schema 2.0.0): optional, but it lets AppInspect check the id and says
    where the app goes (search heads only)."""
    manifest = {
        "schemaVersion": "2.0.0",
        "info": {
            "title": APP_LABEL,
            "id": {"group": None, "name": APP_ID, "version": version},
            "author": [{"name": AUTHOR, "email": None, "company": None}],
            "releaseDate": None,
            "description": APP_DESCRIPTION,
            "classification": {"intendedAudience": None, "categories": [], "developmentStatus": None},
            "commonInformationModels": None,
            "license": {"name": "MIT", "text": None, "uri": None},
            "privacyPolicy": {"name": None, "text": None, "uri": None},
            "releaseNotes": {"name": None, "text": None, "uri": None},
        },
        "dependencies": None,
        "tasks": None,
        "inputGroups": None,
        "incompatibleApps": None,
        "platformRequirements": None,
        "supportedDeployments": ["_standalone", "_distributed", "_search_head_clustering"],
        "targetWorkloads": ["_search_heads"],
    }
    return json.dumps(manifest, indent=2) + "\n"


def write_splunk_app(release: Release, out: Path) -> Path:
    """Write `<out>/cloudtrail_detection_pack-<version>.tgz`; returns its path."""
    path = Path(out) / f"{APP_ID}-{release.version}.tgz"
    put(path, tgz_bytes(app_files(release), APP_ID))
    return path


def write(release: Release, out: Path) -> None:
    """The release writer: the app as one .tgz."""
    write_splunk_app(release, out)
