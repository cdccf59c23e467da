"""The CloudTrail record schema, as the one list of field names every target pipeline accepts.

A Sigma field outside this schema would compile, on any target, into a query on a field that never
exists and so silently matches nothing; the pipelines refuse such rules instead (see `common.py`).
Field names are CloudTrail's own (record contents reference:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
"""

from __future__ import annotations

import re

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
