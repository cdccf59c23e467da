"""The CloudTrail record schema: every fact about CloudTrail records that a target pipeline or an artifact writer
relies on, stated once, and nothing about any target.

* which fields a record has (`CLOUDTRAIL_FIELDS`, the open objects under which any key is a field), which
  hold JSON objects or arrays (`JSON_CONTAINER_FIELDS`) and which request parameters are JSON arrays per
  event source (`request_array_problem`, from AWS's API models: data/request-parameter-arrays.json);
* which fields CloudTrail writes in one letter case (`CANONICAL_CASE`).

Where a target keeps a field, under which name and with which type, is the target's own knowledge, in its own
module: Splunk (KV_MODE=json), CloudWatch Logs and EventBridge read the record's JSON by its dotted path (their
pipelines, `splunk.py`, `cloudwatch.py`, `eventbridge.py`); Elastic's AWS integration moves fields into the Elastic
Common Schema (`ecs_fields.py`); Athena and CloudTrail Lake have tables of their own
(`sigma.backends.athena.tables`).

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

#: A dotted path of CloudTrail keys (the characters record keys are written with).
FIELD_PATH = re.compile(r"[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*")


def is_cloudtrail_field(name: str) -> bool:
    """True if `name` is a CloudTrail record field (dotted path into the JSON record)."""
    if name in CLOUDTRAIL_FIELDS:
        return True
    return any(name.startswith(prefix) for prefix in OPEN_OBJECTS) and bool(FIELD_PATH.fullmatch(name))


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
