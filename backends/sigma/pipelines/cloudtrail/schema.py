"""The CloudTrail record schema: every fact about CloudTrail fields that a target pipeline or an artifact
writer relies on, stated once.

* which fields a record has (`CLOUDTRAIL_FIELDS`, the open objects under which any key is a field), which
  hold JSON objects or arrays (`JSON_CONTAINER_FIELDS`) and which request parameters are JSON arrays per
  event source (`request_array_problem`, from AWS's API models: data/request-parameter-arrays.json);
* which fields CloudTrail writes in one letter case (`CANONICAL_CASE`);
* per target, where a field is and what type it has: Splunk (Splunk Add-on for AWS, KV_MODE=json) and
  CloudWatch Logs read the record's JSON as it is, by its dotted path, with JSON's types; Elastic's AWS
  integration moves fields into the Elastic Common Schema (`ecs_field`, `ECS_*`) with the types of its
  mapping (`ecs_field_type`, data/cloudtrail-field-types.json).

A Sigma field outside this schema would compile, on any target, into a query on a field that never exists
and so silently matches nothing; the pipelines refuse such rules instead (see `common.py`). Field names are
CloudTrail's own (record contents reference:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Literal

#: Fields with a fixed name, as CloudTrail writes them (eventVersion 1.08 - 1.11).
CLOUDTRAIL_FIELDS: frozenset[str] = frozenset(
    {
        "eventVersion",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "apiVersion",
        "managementEvent",
        "recipientAccountId",
        "sharedEventID",
        "vpcEndpointId",
        "vpcEndpointAccountId",
        "eventCategory",
        "sessionCredentialFromConsole",
        "edgeDeviceDetails",
        "serviceEventDetails",
        "insightDetails",
        "addendum",
        "tlsDetails.tlsVersion",
        "tlsDetails.cipherSuite",
        "tlsDetails.clientProvidedHostHeader",
        "userIdentity.type",
        "userIdentity.principalId",
        "userIdentity.arn",
        "userIdentity.accountId",
        "userIdentity.accessKeyId",
        "userIdentity.userName",
        "userIdentity.invokedBy",
        "userIdentity.identityProvider",
        "userIdentity.credentialId",
        "userIdentity.onBehalfOf.userId",
        "userIdentity.onBehalfOf.identityStoreArn",
        "userIdentity.sessionContext.sessionIssuer.type",
        "userIdentity.sessionContext.sessionIssuer.principalId",
        "userIdentity.sessionContext.sessionIssuer.arn",
        "userIdentity.sessionContext.sessionIssuer.accountId",
        "userIdentity.sessionContext.sessionIssuer.userName",
        "userIdentity.sessionContext.attributes.creationDate",
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        "userIdentity.sessionContext.sourceIdentity",
        "userIdentity.sessionContext.ec2RoleDelivery",
        "userIdentity.sessionContext.webIdFederationData.federatedProvider",
        "userIdentity.sessionContext.assumedRoot",
    }
)

#: CloudTrail fields that are JSON objects or arrays, never scalars (CloudTrail record contents reference).
JSON_CONTAINER_FIELDS: frozenset[str] = frozenset(
    {
        "userIdentity",
        "userIdentity.sessionContext",
        "userIdentity.sessionContext.sessionIssuer",
        "userIdentity.sessionContext.attributes",
        "userIdentity.sessionContext.webIdFederationData",
        "userIdentity.onBehalfOf",
        "tlsDetails",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "resources",
        "serviceEventDetails",
        "edgeDeviceDetails",
        "insightDetails",
        "addendum",
    }
)

#: Objects whose keys depend on the API called: any field beneath them is accepted.
OPEN_OBJECTS: tuple[str, ...] = (
    "requestParameters.",
    "responseElements.",
    "additionalEventData.",
    "serviceEventDetails.",
    "edgeDeviceDetails.",
    "insightDetails.",
    "addendum.",
)

_FIELD_PATH = re.compile(r"[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*")


def is_cloudtrail_field(name: str) -> bool:
    """True if `name` is a CloudTrail record field (dotted path into the JSON record)."""
    if name in CLOUDTRAIL_FIELDS:
        return True
    return any(name.startswith(prefix) for prefix in OPEN_OBJECTS) and bool(_FIELD_PATH.fullmatch(name))


# --------------------------------------------------------------------------------------------------
# Letter case

CaseRule = Literal["lower", "api-name"]

#: Fields whose values CloudTrail always writes in one letter case. Sigma matches strings
#: case-insensitively; a target whose comparisons are case-sensitive (CloudWatch Logs `=`, metric filters,
#: Elasticsearch keywords) means the same as Sigma on these fields when the value is spelled this way.
#:
#: * ``lower`` - `eventSource` is the service's endpoint host name, which CloudTrail writes in lower case
#:   (``iam.amazonaws.com``).
#: * ``api-name`` - `eventName` is the API action name as AWS spells it (``DeleteUser``, ``ConsoleLogin``):
#:   every word starts with an upper-case letter and holds only letters and digits.
CANONICAL_CASE: dict[str, CaseRule] = {
    "eventSource": "lower",
    "eventName": "api-name",
}


# --------------------------------------------------------------------------------------------------
# Request parameters that are JSON arrays
#
# A record's `requestParameters` is the API request as JSON, so a request member that is a list is a JSON
# array. Which members are lists comes from AWS's own API models: data/request-parameter-arrays.json is
# generated from botocore's service models (Apache-2.0) by `arrays.generate()`, which says what it covers.

REQUEST_ARRAYS_FILE = "data/request-parameter-arrays.json"  # in this package
ARRAY = "[]"  # key of a node that is an array; its value describes the elements (None: scalars)
_REQUEST = "requestParameters."


@cache
def request_arrays() -> dict:
    """The excerpt: {"source": ..., "arrays": {event source: tree}}."""
    return json.loads(resources.files(__package__).joinpath(REQUEST_ARRAYS_FILE).read_text(encoding="utf-8"))


class ArrayProblem:
    """A field that names a request array, a path through one without an index, or an element object."""

    def __init__(self, field: str, source: str, where: str, instead: str | None):
        self.field, self.source, self.where, self.instead = field, source, where, instead

    def __eq__(self, other) -> bool:
        return isinstance(other, ArrayProblem) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"ArrayProblem({self.field!r}, {self.source!r}, {self.where!r}, {self.instead!r})"

    def describe(self) -> str:
        if self.instead is None:
            return f"{self.where} is an object (an array element) in {self.source} requests; name one of its fields"
        return (
            f"{self.where} is an array in {self.source} requests; name one element by its index instead, "
            f"e.g. {self.instead} (that element only)"
        )


def request_array_problem(field: str, source: str, tree: dict | None = None) -> ArrayProblem | None:
    """Why `field` names an array, a path through one, or an object element, in `source`'s requests (or None)."""
    if tree is None:
        tree = request_arrays()["arrays"].get(source)
        if tree is None:
            return None
    if not field.startswith(_REQUEST):
        return None
    parts = field[len(_REQUEST):].split(".")
    node: dict | None = tree
    written, where, i = ["requestParameters"], None, 0
    while i < len(parts) and node is not None:
        part = parts[i]
        if ARRAY in node and not part.isdigit():  # the path runs through an array without an index
            where = where or ".".join(written)
            written.append("0")
            node = node[ARRAY]
            if node is None:  # elements are scalars: `part` cannot exist, the element itself is the value
                return ArrayProblem(field, source, where, ".".join(written))
            continue
        written.append(part)
        node = node[ARRAY] if ARRAY in node else node.get(part)
        i += 1
    written += parts[i:]
    if node is not None and ARRAY in node:  # the field is the array itself
        where = where or ".".join(written)
        while node is not None and ARRAY in node:
            written.append("0")
            node = node[ARRAY]
    if where is not None:
        return ArrayProblem(field, source, where, ".".join(written) + ("" if node is None else ".<field>"))
    if node is not None and parts[-1].isdigit():
        return ArrayProblem(field, source, field, None)
    return None


# --------------------------------------------------------------------------------------------------
# Elastic Common Schema, as Elastic's AWS integration indexes CloudTrail (data stream
# `logs-aws.cloudtrail-*`).
#
# Source, read processor by processor: elastic/integrations,
# packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml at commit
# 0b97ab02df57b57303b67e48840bb75dfe5c4738, with the field types of the data stream's fields/*.yml
# (fields.yml at the same commit) and ECS 8.11 (the ecs.version the pipeline sets), checked in as
# data/cloudtrail-field-types.json. `to_ecs` in tests/elastic_ingest.py is the same
# pipeline as code.
#
# Only a CloudTrail field whose value the integration copies *unchanged* into one ECS field has an
# entry here: a rule on it means the same thing on both sides. Fields the integration drops, renames
# into a field it also fills from elsewhere, or rewrites, have no ECS home (ECS_NO_HOME says why) and a
# rule using them fails to build for Elastic instead of compiling into a query that means something else.
# --------------------------------------------------------------------------------------------------

#: The ingest pipeline the ECS mapping below is transcribed from (elastic/integrations).
ECS_INTEGRATION_COMMIT = "0b97ab02df57b57303b67e48840bb75dfe5c4738"
ECS_PIPELINE_PATH = "packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml"

#: CloudTrail field -> the ECS field the integration copies it into, unchanged.
ECS_FIELDS: dict[str, str] = {
    "eventVersion": "aws.cloudtrail.event_version",  # rename
    "eventTime": "@timestamp",  # date processor, ISO8601
    "eventSource": "event.provider",  # rename
    "eventName": "event.action",  # set '{{{json.eventName}}}'
    "eventCategory": "aws.cloudtrail.event_category",  # rename
    "awsRegion": "cloud.region",  # set copy_from
    "sourceIPAddress": "source.address",  # rename; source.ip is only set when the value is an IP
    "userAgent": "user_agent.original",  # user_agent processor keeps the original string
    "errorCode": "aws.cloudtrail.error_code",  # rename
    "errorMessage": "aws.cloudtrail.error_message",  # rename
    "requestID": "aws.cloudtrail.request_id",  # rename
    "eventID": "event.id",  # rename
    "eventType": "aws.cloudtrail.event_type",  # rename
    "apiVersion": "aws.cloudtrail.api_version",  # rename
    "managementEvent": "aws.cloudtrail.management_event",  # rename (keyword: true -> "true")
    "readOnly": "aws.cloudtrail.read_only",  # rename (boolean)
    "recipientAccountId": "aws.cloudtrail.recipient_account_id",  # rename
    "vpcEndpointId": "aws.cloudtrail.vpc_endpoint_id",  # rename
    "sessionCredentialFromConsole": "aws.cloudtrail.session_credential_from_console",  # rename
    "tlsDetails.cipherSuite": "tls.cipher",  # rename
    "tlsDetails.clientProvidedHostHeader": "tls.client.server_name",  # rename
    "userIdentity.type": "aws.cloudtrail.user_identity.type",
    "userIdentity.arn": "aws.cloudtrail.user_identity.arn",
    "userIdentity.accessKeyId": "aws.cloudtrail.user_identity.access_key_id",
    "userIdentity.invokedBy": "aws.cloudtrail.user_identity.invoked_by",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
    "userIdentity.sessionContext.attributes.creationDate": "aws.cloudtrail.user_identity.session_context.creation_date",
    "userIdentity.sessionContext.sessionIssuer.type": "aws.cloudtrail.user_identity.session_context.session_issuer.type",
    "userIdentity.sessionContext.sessionIssuer.principalId": "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
    "userIdentity.sessionContext.sessionIssuer.arn": "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    "userIdentity.sessionContext.sessionIssuer.accountId": "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
    # set user.target.name copy_from json.requestParameters.userName, ignore_empty_value (a keyword EQL and ES|QL
    # can read; other request parameters stay in the flattened copy, ECS_FLATTENED_OBJECTS)
    "requestParameters.userName": "user.target.name",
}

#: CloudTrail fields the integration stores, but in an ECS field it also fills from other CloudTrail
#: fields: shown in alert details (`fields:`), never matched on. Value: (ECS field, why).
ECS_SHARED_FIELDS: dict[str, tuple[str, str]] = {
    "userIdentity.userName": (
        "user.name",
        "user.name also holds sessionContext.sessionIssuer.userName (AssumedRole, FederatedUser) and "
        "additionalEventData.UserName (UserAuthentication)",
    ),
    "userIdentity.sessionContext.sessionIssuer.userName": (
        "user.name",
        "copied into user.name only for AssumedRole and FederatedUser identities, where user.name otherwise "
        "holds userIdentity.userName",
    ),
    "userIdentity.principalId": (
        "user.id",
        "user.id also holds userIdentity.onBehalfOf.userId (IdentityCenterUser without a principalId)",
    ),
    "userIdentity.onBehalfOf.userId": (
        "user.id",
        "copied into user.id only for IdentityCenterUser identities without a principalId",
    ),
    "userIdentity.accountId": (
        "cloud.account.id",
        "cloud.account.id also holds recipientAccountId when userIdentity.accountId is absent",
    ),
}

#: Shared fields that hold exactly one CloudTrail field when another field has a given value: CloudTrail field ->
#: (ECS field, pinning CloudTrail field, its value). `user.name` is renamed from userIdentity.userName, and is
#: overwritten from sessionContext.sessionIssuer.userName only for AssumedRole and FederatedUser identities and
#: filled from additionalEventData.UserName only when it is still empty (UserAuthentication events): for an
#: IAMUser identity, which always carries userName (CloudTrail userIdentity reference), user.name is
#: userIdentity.userName. A rule may match on it where the same AND group (one Sigma detection map) pins
#: userIdentity.type to IAMUser (ecs.py checks that).
ECS_PINNED_FIELDS: dict[str, tuple[str, str, str]] = {
    "userIdentity.userName": ("user.name", "userIdentity.type", "IAMUser"),
}

#: Objects whose keys depend on the API called, and the `flattened` field the integration copies each
#: into (when its Java rendering is shorter than 32766 characters; retain option unset, `all`, or
#: `flattened`). Keyed sub-fields of a flattened field are keywords: exact, case-sensitive terms;
#: Elasticsearch refuses wildcard and regexp queries on them, and neither EQL nor ES|QL can read them.
ECS_FLATTENED_OBJECTS: dict[str, str] = {
    "requestParameters.": "aws.cloudtrail.flattened.request_parameters.",
    "responseElements.": "aws.cloudtrail.flattened.response_elements.",
    "additionalEventData.": "aws.cloudtrail.flattened.additional_eventdata.",
    "serviceEventDetails.": "aws.cloudtrail.flattened.service_event_details.",
    "insightDetails.": "aws.cloudtrail.flattened.insight_details.",
}

#: CloudTrail fields with no ECS home, and why.
ECS_NO_HOME: dict[str, str] = {
    "sharedEventID": "the integration renames json.sharedEventId (lower-case d), which CloudTrail never writes, so the field is dropped",
    "vpcEndpointAccountId": "the integration drops it",
    "edgeDeviceDetails": "the integration drops it",
    "addendum": "the integration drops it",
    "resources": "a list of objects, stored as aws.cloudtrail.resources with ARN renamed arn and duplicates removed",
    "tlsDetails.tlsVersion": "the integration splits it into tls.version_protocol and tls.version",
    "userIdentity.identityProvider": "the integration drops it",
    "userIdentity.credentialId": "the integration drops it",
    "userIdentity.onBehalfOf.identityStoreArn": "the integration keeps it only in related.entity, with other values",
    "userIdentity.sessionContext.sourceIdentity": "the integration drops it",
    "userIdentity.sessionContext.ec2RoleDelivery": "the integration drops it",
    "userIdentity.sessionContext.webIdFederationData.federatedProvider": "the integration keeps it only in related.entity, with other values",
    "userIdentity.sessionContext.assumedRoot": "the integration drops it",
    "requestParameters": "stored whole only as a Java Map rendering ({key=value, ...}), not CloudTrail's JSON; match a key instead (requestParameters.<key>)",
    "responseElements": "stored whole only as a Java Map rendering ({key=value, ...}), not CloudTrail's JSON; match a key instead",
    "additionalEventData": "stored whole only as a Java Map rendering ({key=value, ...}), not CloudTrail's JSON; match a key instead",
    "serviceEventDetails": "stored whole only as a Java Map rendering ({key=value, ...}), not CloudTrail's JSON; match a key instead",
    "insightDetails": "a flattened object; match a key instead (insightDetails.<key>)",
    "additionalEventData.UserName": "moved into user.name (UserAuthentication events) before the flattened copy is made",
}

#: The checked-in excerpt of the data stream's field types (source repository, paths, commits and licences
#: in the file and data/README-cloudtrail-field-types.md): Elasticsearch refuses or mis-reads queries by type,
#: so the pipeline refuses per query language from these types (see ecs.py).
ECS_FIELD_TYPES_FILE = "data/cloudtrail-field-types.json"  # in this package


def _load_field_types() -> dict[str, dict]:
    return json.loads(resources.files(__package__).joinpath(ECS_FIELD_TYPES_FILE).read_text(encoding="utf-8"))["fields"]


_FIELD_ENTRIES = _load_field_types()

#: Elasticsearch field type of every field of the `cloudtrail` data stream (ECS 8.11 types for ECS fields).
ECS_FIELD_TYPES: dict[str, str] = {name: entry["type"] for name, entry in _FIELD_ENTRIES.items()}
#: Fields that ECS 8.11 defines (Kibana's `required_fields[].ecs`); the others are the integration's own.
ECS_DEFINED_FIELDS: frozenset[str] = frozenset(name for name, entry in _FIELD_ENTRIES.items() if entry["ecs"])

#: Values the integration's first script deletes wherever they occur (`v == '' || v == '-' || v == 'none'`),
#: so no Elastic query can match them.
ECS_DROPPED_VALUES: frozenset[str] = frozenset({"", "-", "none"})


class NoEcsHome(ValueError):
    """A CloudTrail field that Elastic's AWS integration does not store unchanged in one ECS field."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def ecs_field(name: str, *, display: bool = False) -> str:
    """The ECS field holding CloudTrail field `name`, unchanged. Raises NoEcsHome if there is none.

    `display=True` also accepts fields the integration shares with other CloudTrail fields (fine to show
    in an alert, wrong to match on).
    """
    if name in ECS_FIELDS:
        return ECS_FIELDS[name]
    if name in ECS_SHARED_FIELDS:
        home, reason = ECS_SHARED_FIELDS[name]
        if display:
            return home
        raise NoEcsHome(name, f"{reason}; a query on {home} would match those too")
    if name in ECS_NO_HOME:
        raise NoEcsHome(name, ECS_NO_HOME[name])
    for prefix, target in ECS_FLATTENED_OBJECTS.items():
        if name.startswith(prefix) and _FIELD_PATH.fullmatch(name):
            return target + name[len(prefix) :]
    if is_cloudtrail_field(name):
        raise NoEcsHome(name, "the integration drops it")
    raise NoEcsHome(name, "not a CloudTrail field")


def ecs_field_type(ecs_name: str) -> str:
    """Elasticsearch type of a field of the data stream, from the excerpt; a key below a `flattened` field
    is "flattened" (a keyed sub-field). A field the excerpt does not have raises KeyError: a query must never
    be typed by guess."""
    if ecs_name in ECS_FIELD_TYPES:
        return ECS_FIELD_TYPES[ecs_name]
    parts = ecs_name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if ECS_FIELD_TYPES.get(".".join(parts[:i])) == "flattened":
            return "flattened"
    raise KeyError(f"{ecs_name}: not a field of Elastic's AWS cloudtrail data stream ({ECS_FIELD_TYPES_FILE})")
