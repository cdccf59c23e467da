"""What a Kibana rule shows and needs of a CloudTrail document: its investigation fields, the ES|QL `keep` of a
single-event rule, and which of the integration's `retain` settings store the fields its query reads.

`investigation_fields` (Kibana detection rule schema, `investigation_fields.field_names`) are the fields the alert
flyout highlights: the Sigma rule's `fields:` where the integration stores them (a correlation: its group-by fields,
which its alert carries). A single-event ES|QL rule keeps the same columns (`| keep`, after `_id`, `_index` and
`_version`, which Kibana needs to deduplicate alerts); flattened keys are left out (ES|QL cannot read them).

`retain` (the integration's `_conf.retain`, ingest pipeline scripts script_cache_flattened_duplicates_configuration
and script_retain_minimal_flattened @ 0b97ab02df57): unset or `all` keeps both the flattened copies and the
keyword renderings; `keyword` drops the flattened copy; `minimal` keeps only Elastic's short list of flattened keys;
any other value (e.g. `flattened`) drops the renderings.
"""

from __future__ import annotations

import re

from sigma.pipelines.cloudtrail.ecs_fields import NoEcsHome, ecs_field, ecs_field_type

#: Flattened keys the `minimal` retain setting keeps (params.required_flattened_fields, request_parameters ones).
MINIMAL_FLATTENED = frozenset(
    "aws.cloudtrail.flattened.request_parameters." + k
    for k in ("cidrIp", "dryRun", "fromPort", "includeDeprecated", "policyArn", "serialNumber", "withDecryption")
)
_FLATTENED = re.compile(r"aws\.cloudtrail\.flattened\.[A-Za-z0-9_.@$-]+")
_RENDERED = re.compile(r"aws\.cloudtrail\.(?:request_parameters|response_elements|service_event_details)\b")
#: Columns every single-event ES|QL rule keeps: the metadata Kibana deduplicates alerts by, the time, the outcome
#: its severity mapping reads.
_ESQL_ALWAYS = ("_id", "_index", "_version", "@timestamp", "event.action", "event.outcome")


def _homes(names) -> list[str]:
    out: list[str] = []
    for name in names:
        try:
            out.append(ecs_field(name, display=True))
        except NoEcsHome:
            continue
    return list(dict.fromkeys(out))


def investigation_fields(rule, is_correlation: bool) -> list[str]:
    """The alert's highlighted fields: a correlation's group-by fields, else the rule's `fields:` stored by Elastic."""
    return _homes(rule.group_by or []) if is_correlation else _homes(rule.fields or [])


def esql_keep(query: str, rule) -> str:
    """A single-event ES|QL query ending with `| keep` of its investigation fields ES|QL can read."""
    columns = [f for f in investigation_fields(rule, False) if ecs_field_type(f) != "flattened"]
    return f"{query}\n| keep {', '.join(dict.fromkeys((*_ESQL_ALWAYS, *columns)))}"


def retain_note(query: str) -> str:
    """Which `retain` settings store what `query` reads (module docstring)."""
    flattened = set(_FLATTENED.findall(query))
    renderings = sorted(set(_RENDERED.findall(query)))
    rendered = bool(renderings)
    if flattened and not flattened <= MINIMAL_FLATTENED:
        settings = "unset or `all`" if not rendered else "unset or `all` (it reads both the flattened copy and the keyword rendering)"
    elif flattened:
        settings = "unset, `all` or `minimal`" + (" (not `keyword`: it reads the flattened copy)" if not rendered else "")
    elif rendered:
        settings = f"unset, `all`, `minimal` or `keyword` (it reads the keyword rendering {', '.join(renderings)})"
    else:
        return "it reads no request or response field: any `retain` setting"
    return f"keep the integration's `retain` option {settings}"


def query_notes(query: str) -> list[str]:
    """What the query does where the data cannot say more (the investigation guide appends it)."""
    notes = []
    if "aws.cloudtrail.request_parameters" in _RENDERED.findall(query):
        notes.append(
            "Request parameters this language cannot read in the flattened copy are matched in "
            "aws.cloudtrail.request_parameters, the integration's Java Map rendering `{key=value, key=value}` (nothing "
            "quoted or escaped): the query wants the entry right after `{` or `, ` and before `, ` or `}`, so a user "
            "named `x,status=Inactive` does not match. A value that itself holds `, key=value, ` (IAM refuses spaces "
            "in names, ARNs and key ids: only a refused request can carry one) reads like that entry and matches; a "
            "rendering over 8,191 characters is not indexed and matches nothing. Check the request in "
            "aws.cloudtrail.flattened.request_parameters or event.original."
        )
    if "aws.cloudtrail.service_event_details" in _RENDERED.findall(query):
        notes.append(
            "Service event details this language cannot read in the flattened copy are matched in "
            "aws.cloudtrail.service_event_details, the integration's Java Map rendering `{key=value, key=value}`: the "
            "query wants the entry right after `{` or `, ` and before `, ` or `}`. AWS Organizations writes these "
            "details itself (no caller's value is in them). Check the event in "
            "aws.cloudtrail.flattened.service_event_details or event.original."
        )
    if query.lstrip().startswith("sequence"):
        notes.append(
            "Steps with the same @timestamp (CloudTrail records whole seconds) are in order for the Sigma rule (a "
            "script removing the credentials and deleting the user within one second), but Elasticsearch, without a "
            "tiebreaker field, may sort the deletion first and miss them: the ES|QL rule finds them."
        )
    return notes
