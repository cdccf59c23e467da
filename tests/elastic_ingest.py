"""CloudTrail record -> the document Elastic's AWS integration indexes in `logs-aws.cloudtrail-*`.

A transcription, processor by processor and in order, of the integration's ingest pipeline:
elastic/integrations, packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml at
commit 0b97ab02df57b57303b67e48840bb75dfe5c4738 (https://github.com/elastic/integrations/blob/
0b97ab02df57b57303b67e48840bb75dfe5c4738/packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml).
(`ECS_INTEGRATION_COMMIT` and `ECS_PIPELINE_PATH` in `sigma.pipelines.cloudtrail.schema`, the source of the
pack's ECS mapping.) Each step below quotes the processor it implements. It is checked against the
integration's own pipeline test expectations (`tests/elastic/data/integration_pipeline_cases.json`).

Test support: the Elastic evaluators (tests/evaluators/lucene.py, esql.py, tests/elastic/elastic_eql.py) and
the Kibana execution model run the shipped queries over the documents it makes; the pack does not import it.

Not reproduced (they need data files or run only on request), and never queried by the pack:
* `geoip` (source.geo, source.as): needs MaxMind's databases;
* `user_agent` parsing beyond `user_agent.original` (name, version, os, device): needs ua-parser's regexes;
* the entity script (`related.entity`, `*.entity.id`, `target.*`, `actor.*`): runs only for events tagged
  `actor_target_mapping`;
* `event.created` and `event.original`, which come from the shipper (pass `ingested_at=` / `preserve_original=True`);
  `ingested_at=` also sets `event.ingested` as Fleet's final pipeline does (see `to_ecs`);
* the `third-party` sub-pipeline, for CloudTrail Lake `preview` events, which are not CloudTrail records.

Java semantics that show in the output are reproduced: `Map.toString()` renderings of the request
parameters and similar objects (HashMap iteration order, Java number formatting), the first script's
deletion of '', '-' and 'none' values, and the pipeline's `on_failure` (event.kind: pipeline_error).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

ECS_VERSION = "8.11.0"
DATA_STREAM = "logs-aws.cloudtrail-default"

_MISSING = object()


# ----------------------------------------------------------------------------------------- Java maps
class JMap(dict):
    """A java.util.HashMap as Elasticsearch's JSON parser builds it: its table capacity is kept, because
    iteration order (and so `toString()`) depends on it, and removing entries never shrinks it."""

    capacity: int = 16

    @classmethod
    def built(cls, items) -> "JMap":
        m = cls()
        for k, v in items:
            m.put(k, v)
        return m

    def put(self, key, value) -> None:
        self[key] = value
        while len(self) > self.capacity * 0.75:
            self.capacity *= 2


def _utf16_units(s: str):
    for b in range(0, len(data := s.encode("utf-16-be")), 2):
        yield (data[b] << 8) | data[b + 1]


def java_string_hash(s: str) -> int:
    h = 0
    for unit in _utf16_units(s):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h


def java_iteration_order(m: dict) -> list:
    """Keys in java.util.HashMap iteration order: by bucket (spread hash & (capacity - 1)), then insertion."""
    capacity = getattr(m, "capacity", 16)
    if not isinstance(m, JMap):
        while len(m) > capacity * 0.75:
            capacity *= 2

    def bucket(key) -> int:
        h = java_string_hash(str(key))
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(m, key=bucket)  # sorted() is stable: insertion order within a bucket


def java_double(d: float) -> str:
    """Double.toString (JDK 19+: shortest repr digits, Java's exponent layout)."""
    if math.isnan(d):
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0:
        return "-0.0" if math.copysign(1, d) < 0 else "0.0"
    sign = "-" if d < 0 else ""
    digits, exp = _shortest_digits(abs(d))  # value = 0.d1d2... * 10^exp
    if 1e-3 <= abs(d) < 1e7:
        point = exp
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        whole = digits[:point].ljust(point, "0")
        frac = digits[point:] or "0"
        return f"{sign}{whole}.{frac}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exp - 1}"


def _shortest_digits(x: float) -> tuple[str, int]:
    """Python's repr gives the shortest round-tripping digits, as Java 19+ does; re-lay them out."""
    r = repr(x)
    if "e" in r or "E" in r:
        m, e = r.lower().split("e")
        digits = m.replace(".", "").lstrip("0").rstrip("0") or "0"
        return digits, int(e) + 1
    whole, _, frac = r.partition(".")
    if whole.strip("0"):
        digits = (whole.lstrip("0") + frac).rstrip("0") or "0"
        return digits, len(whole.lstrip("0"))
    stripped = frac.lstrip("0")
    return stripped.rstrip("0") or "0", -(len(frac) - len(stripped))


def java_to_string(value: Any) -> str:
    """Object.toString() of a value as Elasticsearch's JSON parser builds it (Map, List, String, number)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_to_string(value[k])}" for k in java_iteration_order(value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_to_string(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_length(s: str) -> int:
    """String.length(): UTF-16 code units."""
    return len(s.encode("utf-16-le")) // 2


def _jsonify(value: Any) -> Any:
    """Python JSON value -> the Java objects Elasticsearch's `json` processor makes (HashMaps)."""
    if isinstance(value, dict):
        return JMap.built((k, _jsonify(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_jsonify(v) for v in value]
    return value


# ------------------------------------------------------------------------------------- doc helpers
class PipelineFailure(Exception):
    def __init__(self, processor: str, message: str, tag: str | None = None):
        self.processor, self.tag, self.message = processor, tag, message
        super().__init__(message)


def _get(doc: dict, path: str, default=None):
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _has(doc: dict, path: str) -> bool:
    return _get(doc, path, _MISSING) is not _MISSING


def _set(doc: dict, path: str, value) -> None:
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = JMap()
        elif not isinstance(nxt, dict):
            raise PipelineFailure("set", f"cannot set [{parts[-1]}] with parent object of type [{type(nxt).__name__}]")
        node = nxt
    node[parts[-1]] = value


def _remove(doc: dict, path: str):
    parts = path.split(".")
    parent = _get(doc, ".".join(parts[:-1])) if len(parts) > 1 else doc
    if isinstance(parent, dict) and parts[-1] in parent:
        return parent.pop(parts[-1])
    return _MISSING


def _rename(doc: dict, src: str, dst: str, *, override: bool = False) -> bool:
    """The rename processor; False where Elasticsearch would fail (missing source, existing target)."""
    if not _has(doc, src):
        return False
    if _has(doc, dst) and not override:
        return False
    value = _remove(doc, src)
    try:
        _set(doc, dst, value)
    except PipelineFailure:
        _set(doc, src, value)
        return False
    return True


def _append_unique(doc: dict, path: str, value) -> None:
    current = _get(doc, path, _MISSING)
    if current is _MISSING or current is None:
        _set(doc, path, [value])
        return
    if not isinstance(current, list):
        current = [current]
        _set(doc, path, current)
    if value not in current:
        current.append(value)


def _mustache(value) -> str:
    if value is None:
        return ""
    return java_to_string(value) if isinstance(value, (dict, list, bool, float)) else str(value)


_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)


def iso8601_to_es(text: Any) -> str | None:
    """The date processor with format ISO8601, output as Elasticsearch writes it (UTC, milliseconds)."""
    if not isinstance(text, str):
        return None
    m = _ISO8601.fullmatch(text)
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0),
                      int((frac or "0").ljust(6, "0")[:6]), tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        dt = dt - sign * timedelta(minutes=offset)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _drop_empty(node, *, dashes: bool) -> bool:
    """The pipeline's remove-nulls scripts: True if `node` is to be removed by its parent."""
    if isinstance(node, dict):
        for key in [k for k, v in node.items() if _drop_empty(v, dashes=dashes)]:
            del node[key]
        return len(node) == 0
    if isinstance(node, list):
        node[:] = [v for v in node if not _drop_empty(v, dashes=dashes)]
        return len(node) == 0
    if node is None or node == "":
        return True
    return dashes and node in ("-", "none")


# ---------------------------------------------------------------------------- ECS categorization
_IAM = {"category": ["iam"]}
_CATEGORIZATION: dict[str, dict] = {
    # script tag "Add ECS categorization", params, in the pipeline's order
    "AddUserToGroup": {**_IAM, "type": ["group", "change"]},
    "AssumeRole": {"category": ["authentication"], "type": ["info"]},
    "AttachGroupPolicy": {**_IAM, "type": ["group", "change"]},
    "AttachUserPolicy": {**_IAM, "type": ["user", "change"]},
    "ChangePassword": {**_IAM, "type": ["user", "change"]},
    "ConsoleLogin": {"category": ["authentication"], "type": ["info"]},
    "CreateAccessKey": {**_IAM, "type": ["user", "change"]},
    "CreateBucket": {"category": ["file"], "type": ["creation"]},
    "CreateGroup": {**_IAM, "type": ["group", "creation"]},
    "CreateKeyPair": {**_IAM, "type": ["admin", "creation"]},
    "CreateUser": {**_IAM, "type": ["user", "creation"]},
    "CreateVirtualMFADevice": {**_IAM, "type": ["user", "change"]},
    "DeactivateMFADevice": {**_IAM, "type": ["user", "change"]},
    "DeleteAccessKey": {**_IAM, "type": ["user", "change"]},
    "DeleteBucket": {"category": ["file"], "type": ["deletion"]},
    "DeleteGroup": {**_IAM, "type": ["group", "deletion"]},
    "DeleteGroupPolicy": {**_IAM, "type": ["group", "change"]},
    "DeleteSSHPublicKey": {**_IAM, "type": ["user", "change"]},
    "DeleteUser": {**_IAM, "type": ["user", "deletion"]},
    "DeleteUserPermissionsBoundary": {**_IAM, "type": ["user", "change"]},
    "DeleteUserPolicy": {**_IAM, "type": ["user", "change"]},
    "DeleteVirtualMFADevice": {**_IAM, "type": ["user", "change"]},
    "DetachGroupPolicy": {**_IAM, "type": ["group", "change"]},
    "DetachUserPolicy": {**_IAM, "type": ["user", "change"]},
    "EnableMFADevice": {**_IAM, "type": ["user", "change"]},
    "GetGroup": {**_IAM, "type": ["group", "info"]},
    "GetGroupPolicy": {**_IAM, "type": ["group", "info"]},
    "GetUser": {**_IAM, "type": ["user", "info"]},
    "GetUserPolicy": {**_IAM, "type": ["user", "info"]},
    "ListAttachedGroupPolicies": {**_IAM, "type": ["group", "info"]},
    "ListAttachedUserPolicies": {**_IAM, "type": ["user", "info"]},
    "ListGroupPolicies": {**_IAM, "type": ["group", "info"]},
    "ListGroups": {**_IAM, "type": ["group", "info"]},
    "ListGroupsForUser": {**_IAM, "type": ["user", "info"]},
    "ListUserPolicies": {**_IAM, "type": ["user", "info"]},
    "ListUsers": {**_IAM, "type": ["user", "info"]},
    "ListUserTags": {**_IAM, "type": ["user", "info"]},
    "PutGroupPolicy": {**_IAM, "type": ["group", "change"]},
    "PutUserPermissionsBoundary": {**_IAM, "type": ["user", "change"]},
    "PutUserPolicy": {**_IAM, "type": ["user", "change"]},
    "RemoveUserFromGroup": {**_IAM, "type": ["group", "change"]},
    "SetDefaultPolicyVersion": {**_IAM, "type": ["admin", "change"]},
    "SetSecurityTokenServicePreferences": {**_IAM, "type": ["admin", "change"]},
    "TagUser": {**_IAM, "type": ["user", "change"]},
    "UntagUser": {**_IAM, "type": ["user", "change"]},
    "UpdateAccessKey": {**_IAM, "type": ["user", "change"]},
    "UpdateAccountPasswordPolicy": {**_IAM, "type": ["admin", "change"]},
    "UpdateGroup": {**_IAM, "type": ["group", "change"]},
    "UpdateLoginProfile": {**_IAM, "type": ["user", "change"]},
    "UpdateRole": {**_IAM, "type": ["admin", "change"]},
    "UpdateSSHPublicKey": {**_IAM, "type": ["user", "change"]},
    "UpdateUser": {**_IAM, "type": ["user", "change"]},
    "GetCallerIdentity": {"category": ["authentication"], "type": ["info"]},
    "DescribeInstances": {"category": ["host"], "type": ["info"]},
    "DescribeSecurityGroups": {"category": ["network"], "type": ["info"]},
    "ListBuckets": {"category": ["file"], "type": ["info"]},
    "DescribeNetworkInterfaces": {"category": ["network"], "type": ["info"]},
    "DescribeRegions": {"category": ["api"], "type": ["info"]},
    "ListRoles": {**_IAM, "type": ["info"]},
    "DescribeVpcs": {"category": ["network"], "type": ["info"]},
    "DescribeNetworkAcls": {"category": ["network"], "type": ["info"]},
    "DescribeLoadBalancers": {"category": ["network"], "type": ["info"]},
    "DescribeVolumes": {"category": ["host"], "type": ["info"]},
    "DescribeTrails": {"category": ["configuration"], "type": ["info"]},
    "ListFunctions": {"category": ["package"], "type": ["info"]},
    "ListTables": {"category": ["database"], "type": ["info"]},
    "ListInstanceAssociations": {"category": ["host"], "type": ["info"]},
    "DescribeDBInstances": {"category": ["database"], "type": ["info"]},
    "AuthorizeSecurityGroupIngress": {"category": ["network"], "type": ["access"]},
    "CreateTopic": {"category": ["configuration"], "type": ["creation"]},
    "Subscribe": {"category": ["configuration"], "type": ["change"]},
    "Publish": {"category": ["api"], "type": []},
    "SendCommand": {"category": ["process"], "type": []},
    "GetPolicy": {**_IAM, "type": ["info"]},
    "CreatePolicy": {**_IAM, "type": ["creation"]},
    "ListAttachedRolePolicies": {**_IAM, "type": ["info"]},
    "AttachRolePolicy": {**_IAM, "type": ["change"]},
    "Converse": {"category": ["api"], "type": []},
    "CreateDocument": {"category": ["file"], "type": ["creation"]},
    "StartSession": {"category": ["session"], "type": ["start"]},
    "CreateControlChannel": {"category": ["session"], "type": ["start"]},
    "OpenControlChannel": {"category": ["session"], "type": ["start"]},
    "CreateDataChannel": {"category": ["session"], "type": ["start"]},
    "OpenDataChannel": {"category": ["session"], "type": ["start"]},
    "TerminateSession": {"category": ["session"], "type": ["end"]},
    "ListObjects": {"category": ["file"], "type": ["info"]},
    "HeadObject": {"category": ["file"], "type": ["info"]},
    "GetObject": {"category": ["file"], "type": ["info"]},
    "PutObject": {"category": ["file"], "type": ["change"]},
    "DeleteTrail": {"category": ["configuration"], "type": ["deletion"]},
    "DeleteObject": {"category": ["file"], "type": ["delete"]},
}

_MINIMAL_FLATTENED = (
    # script tag script_retain_minimal_flattened, params.required_flattened_fields
    "aws.cloudtrail.flattened.additional_eventdata.SSEApplied",
    "aws.cloudtrail.flattened.request_parameters.cidrIp",
    "aws.cloudtrail.flattened.request_parameters.dryRun",
    "aws.cloudtrail.flattened.request_parameters.fromPort",
    "aws.cloudtrail.flattened.request_parameters.includeDeprecated",
    "aws.cloudtrail.flattened.request_parameters.policyArn",
    "aws.cloudtrail.flattened.request_parameters.serialNumber",
    "aws.cloudtrail.flattened.request_parameters.withDecryption",
    "aws.cloudtrail.flattened.request_parameters.x-amz-server-side-encryption-customer-algorithm",
)

_IP = re.compile(r"[0-9A-Fa-f:.%]+")


def _is_grok_ip(value: Any) -> bool:
    if not isinstance(value, str) or not _IP.fullmatch(value):
        return False
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------- pipeline
def to_ecs(
    record: dict,
    *,
    retain: str | None = None,
    tags: list[str] | None = None,
    ingested_at: str | None = None,
    preserve_original: bool = False,
) -> dict:
    """The document Elastic's AWS integration indexes for one CloudTrail record.

    `retain` is the integration's `_conf.retain` option (unset by default: flattened copies kept).
    `ingested_at` (ISO 8601) is when the document is indexed: the shipper's @timestamp (kept as
    event.created) and `event.ingested`, which Fleet's final pipeline sets after the integration's pipeline
    to the ingest time truncated to the second (`metadata().now.withNano(0)`, ISO_OFFSET_DATE_TIME: elastic/kibana
    x-pack/platform/plugins/shared/fleet/server/constants/fleet_es_assets.ts @ fdfeb2bb4dc1,
    FLEET_FINAL_PIPELINE_CONTENT). Detection rules with `timestamp_override: event.ingested` search on it.
    """
    original = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    ctx: dict = JMap()
    if ingested_at is not None:
        ctx["@timestamp"] = ingested_at
    if tags:
        ctx["tags"] = list(tags)
    if retain is not None:
        ctx["_conf"] = JMap.built([("retain", retain)])
    ctx["event"] = JMap.built([("original", original)])
    try:
        _run(ctx, copy.deepcopy(record))
    except PipelineFailure as failure:
        # pipeline-level on_failure: the document is kept as it stood, marked as failed
        _set(ctx, "event.kind", "pipeline_error")
        tag = f"with tag '{failure.tag}' " if failure.tag else ""
        _append_unique(ctx, "error.message", f"Processor '{failure.processor}' {tag}failed with message '{failure.message}'")
    if not preserve_original:
        _remove(ctx, "event.original")
    if ingested_at is not None:
        _set(ctx, "event.ingested", _fleet_ingested(ingested_at))
    return _plain(ctx)


def _fleet_ingested(when: str) -> str:
    """Fleet's event.ingested: the instant in UTC, seconds truncated, `Z` for the zero offset."""
    dt = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(timezone.utc)
    return dt.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _run(ctx: dict, record: dict) -> None:  # noqa: C901 - one pipeline, in order
    # set event.created copy_from @timestamp (the shipper's time)
    if ctx.get("@timestamp") is not None:
        _set(ctx, "event.created", ctx["@timestamp"])
    # json: field event.original, target_field json
    ctx["json"] = _jsonify(record)
    j = lambda path, default=None: _get(ctx, "json." + path, default)  # noqa: E731
    # set ecs.version
    _set(ctx, "ecs.version", ECS_VERSION)
    # date json.eventTime -> @timestamp, ISO8601, ignore_failure
    if (ts := iso8601_to_es(j("eventTime"))) is not None:
        ctx["@timestamp"] = ts
    # script tag remove-nulls: null, '', '-', 'none', empty maps and lists, anywhere
    _drop_empty(ctx, dashes=True)
    if "json" not in ctx:
        ctx["json"] = JMap()
    # (script_append_related_entity runs only for tags containing actor_target_mapping: not reproduced)
    _rename(ctx, "json.eventVersion", "aws.cloudtrail.event_version")
    _rename(ctx, "json.userIdentity.type", "aws.cloudtrail.user_identity.type")
    _rename(ctx, "json.userIdentity.userName", "user.name")
    _rename(ctx, "json.userIdentity.principalId", "user.id")
    _rename(ctx, "json.userIdentity.arn", "aws.cloudtrail.user_identity.arn")
    _rename(ctx, "json.userIdentity.accountId", "cloud.account.id")
    _rename(ctx, "json.userIdentity.accessKeyId", "aws.cloudtrail.user_identity.access_key_id")
    _rename(
        ctx,
        "json.userIdentity.sessionContext.attributes.mfaAuthenticated",
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
    )
    if (created := iso8601_to_es(j("userIdentity.sessionContext.attributes.creationDate"))) is not None:
        _set(ctx, "aws.cloudtrail.user_identity.session_context.creation_date", created)
    _rename(
        ctx,
        "json.userIdentity.sessionContext.sessionIssuer.type",
        "aws.cloudtrail.user_identity.session_context.session_issuer.type",
    )
    identity_type = _get(ctx, "aws.cloudtrail.user_identity.type")
    if identity_type in ("AssumedRole", "FederatedUser"):
        _rename(ctx, "json.userIdentity.sessionContext.sessionIssuer.userName", "user.name", override=True)
    _rename(
        ctx,
        "json.userIdentity.sessionContext.sessionIssuer.principalId",
        "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
    )
    arn = _get(ctx, "aws.cloudtrail.user_identity.arn")
    if identity_type in ("AssumedRole", "FederatedUser") and arn is not None:
        # grok "arn:aws:sts:.*/%{GREEDYDATA:user.changes.name}$", no ignore_failure
        m = re.match(r"arn:aws:sts:.*/(.*)$", str(arn), re.S)
        if not m:
            raise PipelineFailure("grok", "Provided Grok expressions do not match field value: [" + str(arn) + "]",
                                  "extract_user_name_from_arn")
        _set(ctx, "user.changes.name", m.group(1))
    if identity_type == "IdentityCenterUser" and _get(ctx, "user.id") is None:
        _rename(ctx, "json.userIdentity.onBehalfOf.userId", "user.id")
    _rename(
        ctx,
        "json.userIdentity.sessionContext.sessionIssuer.arn",
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    )
    _rename(
        ctx,
        "json.userIdentity.sessionContext.sessionIssuer.accountId",
        "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
    )
    _rename(ctx, "json.sessionCredentialFromConsole", "aws.cloudtrail.session_credential_from_console")
    _rename(ctx, "json.userIdentity.invokedBy", "aws.cloudtrail.user_identity.invoked_by")
    _rename(ctx, "json.eventSource", "event.provider")
    # set event.action '{{{json.eventName}}}', ignore_empty_value
    if (action := _mustache(j("eventName"))) != "":
        _set(ctx, "event.action", action)
    _rename(ctx, "json.eventCategory", "aws.cloudtrail.event_category")
    if (
        _get(ctx, "event.action") == "UserAuthentication"
        and _get(ctx, "user.name") is None
        and j("additionalEventData.UserName") is not None
    ):
        _rename(ctx, "json.additionalEventData.UserName", "user.name")
    # set cloud.region copy_from json.awsRegion, ignore_empty_value
    if (region := j("awsRegion")) not in (None, ""):
        _set(ctx, "cloud.region", copy.deepcopy(region))
    _rename(ctx, "json.sourceIPAddress", "source.address")
    # grok source.address ^%{IP:source.ip}$, ignore_failure
    if _is_grok_ip(address := _get(ctx, "source.address")):
        _set(ctx, "source.ip", address)
    # (geoip source.geo and source.as: not reproduced)
    # user_agent json.userAgent -> user_agent; on_failure rename json.userAgent -> user_agent.original
    user_agent = j("userAgent")
    if isinstance(user_agent, str):
        _set(ctx, "user_agent.original", user_agent)  # the processor keeps the original string
    elif user_agent is not None:
        _rename(ctx, "json.userAgent", "user_agent.original")  # the processor failed: on_failure
    _rename(ctx, "json.errorCode", "aws.cloudtrail.error_code")
    _rename(ctx, "json.errorMessage", "aws.cloudtrail.error_message")
    # script tag script_cache_flattened_duplicates_configuration
    conf = ctx.setdefault("_conf", JMap())
    retain = conf.get("retain")
    conf["keep_flattened_duplicates"] = retain is None or any(w in str(retain) for w in ("all", "flattened", "minimal"))
    keep = conf["keep_flattened_duplicates"]
    # script tag script_duplicate_rules_fields, ignore_failure (fails when ctx.aws is missing)
    if isinstance(ctx.get("aws"), dict):
        cloudtrail = ctx["aws"].setdefault("cloudtrail", JMap())
        if keep and cloudtrail.get("flattened") is None:
            cloudtrail["flattened"] = JMap()
        for source, target in (
            ("requestParameters", "request_parameters"),
            ("responseElements", "response_elements"),
            ("additionalEventData", "additional_eventdata"),
            ("serviceEventDetails", "service_event_details"),
        ):
            value = j(source)
            if value is not None:
                cloudtrail[target] = java_to_string(value)
                if keep and java_length(cloudtrail[target]) < 32766:
                    cloudtrail["flattened"][target] = value
    _rename(ctx, "json.requestID", "aws.cloudtrail.request_id")
    _rename(ctx, "json.eventID", "event.id")
    _rename(ctx, "json.eventType", "aws.cloudtrail.event_type")
    _rename(ctx, "json.apiVersion", "aws.cloudtrail.api_version")
    _rename(ctx, "json.managementEvent", "aws.cloudtrail.management_event")
    _rename(ctx, "json.readOnly", "aws.cloudtrail.read_only")
    # script: drop duplicate resources (same arn, account_id and type), keyed in a HashMap
    resources = j("resources")
    if isinstance(resources, list):
        unique = JMap()
        for original_resource in resources:
            if isinstance(original_resource, dict):
                resource = JMap.built(original_resource.items())
                if "ARN" in resource:
                    resource["arn"] = resource.pop("ARN")
                if "accountId" in resource:
                    resource["account_id"] = resource.pop("accountId")
                key = "_".join(_mustache(resource.get(k, "")) for k in ("arn", "account_id", "type"))
                unique.put(key, resource)  # an existing key keeps its place, as in a HashMap
        ctx["json"]["resources"] = [unique[k] for k in java_iteration_order(unique)]
    _rename(ctx, "json.resources", "aws.cloudtrail.resources")
    _rename(ctx, "json.recipientAccountId", "aws.cloudtrail.recipient_account_id")
    # set cloud.account.id copy_from aws.cloudtrail.recipient_account_id, override false, ignore_empty_value
    recipient = _get(ctx, "aws.cloudtrail.recipient_account_id")
    if recipient not in (None, "") and _get(ctx, "cloud.account.id") is None:
        _set(ctx, "cloud.account.id", recipient)
    _rename(ctx, "json.sharedEventId", "aws.cloudtrail.shared_event_id")
    _rename(ctx, "json.vpcEndpointId", "aws.cloudtrail.vpc_endpoint_id")
    for path in ("requestParameters.userName", "requestParameters.newUserName", "responseElements.user.userId"):
        if j(path) is not None:
            _append_unique(ctx, "related.user", _mustache(j(path)))
    # ConsoleLogin additional data, ignore_failure
    if j("eventName") == "ConsoleLogin":
        aed = JMap()
        if j("additionalEventData.MobileVersion") is not None:
            aed.put("mobile_version", j("additionalEventData.MobileVersion") != "No")
        if j("additionalEventData.LoginTo") is not None:
            aed.put("login_to", j("additionalEventData.LoginTo"))
        if j("additionalEventData.MFAUsed") is not None:
            aed.put("mfa_used", j("additionalEventData.MFAUsed") != "No")
        if aed and isinstance(ctx.get("aws"), dict) and isinstance(ctx["aws"].get("cloudtrail"), dict):
            ctx["aws"]["cloudtrail"]["console_login"] = JMap.built([("additional_eventdata", aed)])
    # script tag "Add ECS categorization"
    _set(ctx, "event.kind", "event")
    _set(ctx, "event.type", ["info"])
    failed = _get(ctx, "aws.cloudtrail.error_code") is not None or _get(ctx, "aws.cloudtrail.error_message") is not None
    _set(ctx, "event.outcome", "failure" if failed else "success")
    action = _get(ctx, "event.action")
    if action is not None:
        if action == "ConsoleLogin" and j("responseElements.ConsoleLogin") is not None:
            _set(ctx, "event.outcome", str(j("responseElements.ConsoleLogin")).lower())
        for key, value in (_CATEGORIZATION.get(action) or {}).items():
            _set(ctx, f"event.{key}", list(value))
    # CloudTrail digest files
    if not _has(ctx, "cloud.account.id"):
        _rename(ctx, "json.awsAccountId", "cloud.account.id")
    _rename(ctx, "json.digestS3Object", "file.path")
    if j("previousDigestHashAlgorithm") == "SHA-256":
        if not _rename(ctx, "json.previousDigestSignature", "file.hash.sha256"):
            raise PipelineFailure("rename", "field [previousDigestSignature] doesn't exist")
    if _get(ctx, "file.hash.sha256") is not None:
        ctx.setdefault("related", JMap()).setdefault("hash", []).append(_get(ctx, "file.hash.sha256"))
    _rename(ctx, "json.logFiles", "aws.cloudtrail.digest.log_files")
    for source, target in (("digestStartTime", "aws.cloudtrail.digest.start_time"),):
        if (value := iso8601_to_es(j(source))) is not None:
            _set(ctx, target, value)
    if (value := iso8601_to_es(j("digestEndTime"))) is not None:
        ctx["@timestamp"] = value
        _set(ctx, "aws.cloudtrail.digest.end_time", value)
    _rename(ctx, "json.digestS3Bucket", "aws.cloudtrail.digest.s3_bucket")
    for source, target in (
        ("newestEventTime", "aws.cloudtrail.digest.newest_event_time"),
        ("oldestEventTime", "aws.cloudtrail.digest.oldest_event_time"),
    ):
        if (value := iso8601_to_es(j(source))) is not None:
            _set(ctx, target, value)
    _rename(ctx, "json.previousDigestS3Bucket", "aws.cloudtrail.digest.previous_s3_bucket")
    _rename(ctx, "json.previousDigestHashAlgorithm", "aws.cloudtrail.digest.previous_hash_algorithm")
    _rename(ctx, "json.publicKeyFingerprint", "aws.cloudtrail.digest.public_key_fingerprint")
    _rename(ctx, "json.digestSignatureAlgorithm", "aws.cloudtrail.digest.signature_algorithm")
    # set ... copy_from ..., ignore_empty_value (set overrides by default)
    for target, source in (
        ("group.id", "responseElements.group.groupId"),
        ("user.target.id", "responseElements.user.userId"),
        ("user.changes.name", "requestParameters.newUserName"),
        ("group.name", "requestParameters.groupName"),
        ("user.target.name", "requestParameters.userName"),
    ):
        if (value := j(source)) not in (None, ""):
            _set(ctx, target, copy.deepcopy(value))
    if not keep:
        _remove(ctx, "aws.cloudtrail.digest")
        _remove(ctx, "json.insightDetails")
    _rename(ctx, "aws.cloudtrail.digest", "aws.cloudtrail.flattened.digest")
    _rename(ctx, "json.insightDetails", "aws.cloudtrail.flattened.insight_details")
    if j("tlsDetails.tlsVersion") == "tlsVersion":
        _remove(ctx, "json.tlsDetails")
    # dissect "%{tls.version_protocol}v%{tls.version}", on_failure rename -> tls.version
    tls_version = j("tlsDetails.tlsVersion")
    if tls_version is not None:
        text = str(tls_version)
        if "v" in text:
            protocol, _, version = text.partition("v")
            _set(ctx, "tls.version_protocol", protocol)
            _set(ctx, "tls.version", version)
        else:
            _rename(ctx, "json.tlsDetails.tlsVersion", "tls.version")
    if isinstance(protocol := _get(ctx, "tls.version_protocol"), str):
        _set(ctx, "tls.version_protocol", protocol.lower())
    _rename(ctx, "json.tlsDetails.cipherSuite", "tls.cipher")
    _rename(ctx, "json.tlsDetails.clientProvidedHostHeader", "tls.client.server_name")
    # set user.email copy_from user.name if it looks like an address
    name = _get(ctx, "user.name")
    if _get(ctx, "user.email") is None and isinstance(name, str) and name.find("@") > 0:
        _set(ctx, "user.email", name)
    for path in ("user.id", "user.name", "user.changes.name"):
        if _get(ctx, path) is not None:
            _append_unique(ctx, "related.user", _mustache(_get(ctx, path)))
    # script tag script_retain_minimal_flattened
    if retain == "minimal" and _get(ctx, "aws.cloudtrail.flattened") is not None:
        kept = JMap()
        prefix = len("aws.cloudtrail.flattened.")
        for path in _MINIMAL_FLATTENED:
            if (value := _get(ctx, path)) is not None:
                _set(kept, path[prefix:], value)
        ctx["aws"]["cloudtrail"]["flattened"] = kept
    if retain not in (None, "", "all", "keyword", "minimal"):
        for path in ("aws.cloudtrail.response_elements", "aws.cloudtrail.request_parameters", "aws.cloudtrail.additional_eventdata"):
            _remove(ctx, path)
    ctx.pop("json", None)
    ctx.pop("_conf", None)
    # script tag remove_nulls (null, '', empty maps and lists)
    _drop_empty(ctx, dashes=False)


def ecs_field_values(doc: dict, name: str) -> list:
    """The leaf values a field holds in a document, as Elasticsearch indexes them: keys may hold dots
    (`a.b` and `a` -> `b` are the same field), arrays are flattened into several values, objects are not
    values, and null is no value."""
    out: list = []

    def leaves(node) -> None:
        if isinstance(node, list):
            for item in node:
                leaves(item)
        elif node is not None and not isinstance(node, dict):
            out.append(node)

    def walk(node, rest: str) -> None:
        if rest == "":
            leaves(node)
            return
        if isinstance(node, list):
            for item in node:
                walk(item, rest)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if rest == key:
                walk(value, "")
            elif rest.startswith(key + "."):
                walk(value, rest[len(key) + 1 :])

    walk(doc, name)
    return out
