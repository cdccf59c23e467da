"""Where Elastic's AWS integration keeps each CloudTrail field: the Elastic Common Schema mapping of the ecs target
(data stream `logs-aws.cloudtrail-*`) and the types of its fields.

The CloudTrail facts it maps from (which fields a record has) are in `schema.py`; what the ecs pipeline refuses on
top of this mapping is in `ecs.py`.
"""

from __future__ import annotations

import json
from importlib import resources

from .schema import FIELD_PATH, is_cloudtrail_field

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
        if name.startswith(prefix) and FIELD_PATH.fullmatch(name):
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
