"""Where each CloudTrail field is in the two tables these backends query, as AWS documents them.

* Athena: the table of AWS's "Create the table for CloudTrail logs in Athena using partition projection"
  (https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html). Its columns
  are the record's top-level keys in lower case; `useridentity`, `tlsdetails` and `addendum` are STRUCTs (dotted
  access), `requestparameters`, `responseelements`, `additionaleventdata`, `serviceeventdetails` and
  `edgedevicedetails` are the JSON text of the object (STRING: "the CloudTrail SerDe is unable to predictably
  deserialize them ... use JSON_EXTRACT functions", https://docs.aws.amazon.com/athena/latest/ug/cloudtrail-serde.html),
  read with `json_extract_scalar`. Every column is a STRING, `eventtime` the record's ISO 8601 text.
* CloudTrail Lake: the event data store schema of "Supported SQL schemas for event data stores"
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-supported-event-schemas.html):
  `useridentity` a struct, `requestparameters`, `responseelements` and `additionaleventdata` are
  `map<string,string>` (read with `element_at`, a nested object's value is its JSON text), `eventtime` a
  timestamp, `readonly` and `managementevent` booleans (compared as their text, `CAST(... AS varchar)`).

A CloudTrail field (schema.py) that a table has no column for, or holds with another type than the record's text,
has no entry here: the backend refuses a rule that uses it, with `missing_reason`, instead of writing a query on
a column that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sigma.pipelines.cloudtrail.schema import (
    CLOUDTRAIL_FIELDS,
    JSON_CONTAINER_FIELDS,
    OPEN_OBJECTS,
)

from .literals import SHELL_VARIABLE, sql_string


def _struct_fields(*names: str) -> dict[str, str]:
    """CloudTrail dotted names -> the same path in lower case (Trino identifiers are case-insensitive)."""
    return {n: n.lower() for n in names}


_SCALARS = (
    "eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent",
    "errorCode", "errorMessage", "requestID", "eventID", "eventType", "apiVersion", "recipientAccountId",
    "sharedEventID", "vpcEndpointId",
)
_IDENTITY = (
    "userIdentity.type", "userIdentity.principalId", "userIdentity.arn", "userIdentity.accountId",
    "userIdentity.accessKeyId", "userIdentity.userName", "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.type", "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.sessionContext.sessionIssuer.accountId",
    "userIdentity.sessionContext.sessionIssuer.userName", "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "userIdentity.sessionContext.webIdFederationData.federatedProvider", "userIdentity.sessionContext.ec2RoleDelivery",
    "userIdentity.onBehalfOf.userId", "userIdentity.onBehalfOf.identityStoreArn",
)
_TLS = ("tlsDetails.tlsVersion", "tlsDetails.cipherSuite", "tlsDetails.clientProvidedHostHeader")


@dataclass(frozen=True)
class Table:
    """One table layout: plain columns, JSON-text columns and map columns, by CloudTrail name."""

    name: str  # the target's name in messages
    columns: dict[str, str]  # CloudTrail field -> column or struct path holding its text
    json_text: dict[str, str] = field(default_factory=dict)  # open object -> STRING column of its JSON text
    maps: dict[str, str] = field(default_factory=dict)  # open object -> map<string,string> column
    not_text: dict[str, str] = field(default_factory=dict)  # field -> why its column is not the record's text
    time_column: str = "eventtime"
    time_seconds: str = ""  # SQL for the event time in Unix seconds (correlation windows)
    source: str = ""  # the documentation page of the layout


ATHENA = Table(
    name="Athena",
    columns={
        **_struct_fields(*_SCALARS, *_IDENTITY, *_TLS),
        "readOnly": "readonly",
        "vpcEndpointAccountId": "vpcendpointaccountid",
        "eventCategory": "eventcategory",
        "sessionCredentialFromConsole": "sessioncredentialfromconsole",
        "userIdentity.sessionContext.attributes.creationDate": "useridentity.sessioncontext.attributes.creationdate",
        "addendum.reason": "addendum.reason",
        "addendum.updatedFields": "addendum.updatedfields",
        "addendum.originalRequestID": "addendum.originalrequestid",
        "addendum.originalEventID": "addendum.originaleventid",
    },
    json_text={
        "requestParameters": "requestparameters",
        "responseElements": "responseelements",
        "additionalEventData": "additionaleventdata",
        "serviceEventDetails": "serviceeventdetails",
        "edgeDeviceDetails": "edgedevicedetails",
    },
    time_seconds="to_unixtime(from_iso8601_timestamp(eventtime))",
    source="https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html",
)

LAKE = Table(
    name="CloudTrail Lake",
    columns={
        # eventtime is a timestamp there: the time range and the windows use it, no rule compares its text
        **_struct_fields(*(s for s in _SCALARS if s != "eventTime"), *_IDENTITY, *_TLS),
        "eventCategory": "eventcategory",
        "sessionCredentialFromConsole": "sessioncredentialfromconsole",
        "userIdentity.identityProvider": "useridentity.identityprovider",
        "userIdentity.sessionContext.sourceIdentity": "useridentity.sessioncontext.sourceidentity",
        # booleans there: their text, as the record has it (Trino casts true to 'true')
        "readOnly": "CAST(readonly AS varchar)",
        "managementEvent": "CAST(managementevent AS varchar)",
    },
    maps={
        "requestParameters": "requestparameters",
        "responseElements": "responseelements",
        "additionalEventData": "additionaleventdata",
        "serviceEventDetails": "serviceeventdetails",
    },
    not_text={
        "eventTime": "eventtime is a timestamp in the event data store, not the record's text",
        "userIdentity.sessionContext.attributes.creationDate": "creationdate is a timestamp in the event data store, not the record's text",
    },
    time_seconds="to_unixtime(eventtime)",
    source="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-supported-event-schemas.html",
)

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_path(keys: list[str]) -> str:
    """A JSONPath for Trino's json_extract_scalar: `$.key` for plain keys, `$["key"]` otherwise (keys come from the
    schema's field pattern, [A-Za-z0-9_$@-], so no quote or backslash can occur in them)."""
    return "$" + "".join(f".{k}" if _KEY.fullmatch(k) else f'["{k}"]' for k in keys)


class NoColumn(ValueError):
    """A CloudTrail field the table cannot be queried on, with the reason."""


def column(table: Table, name: str) -> str:
    """The SQL expression holding CloudTrail field `name` as the record's text, or NoColumn with the reason."""
    if SHELL_VARIABLE.search(name):
        raise NoColumn(
            f"{name}: a `$` followed by a name would be read as a variable by envsubst, which fills in the query "
            "(docs/athena.md), and a field name cannot be split around it as a value can"
        )
    if name in table.columns:
        return table.columns[name]
    if name in table.not_text:
        raise NoColumn(f"{name}: {table.not_text[name]}")
    if name in JSON_CONTAINER_FIELDS:
        raise NoColumn(f"{name} holds a JSON object or array; name one of its scalar fields instead")
    for prefix in OPEN_OBJECTS:
        obj = prefix[:-1]
        if not name.startswith(prefix):
            continue
        keys = name[len(prefix):].split(".")
        if any(k.isdigit() for k in keys):
            raise NoColumn(
                f"{name} names an array element by position; the pack's reference engine (and `scan`) do not "
                "index arrays, so what this query matches could not be checked"
            )
        if obj in table.json_text:
            return f"json_extract_scalar({table.json_text[obj]}, {sql_string(json_path(keys))})"
        if obj in table.maps:
            head = f"element_at({table.maps[obj]}, {sql_string(keys[0])})"
            return head if len(keys) == 1 else f"json_extract_scalar({head}, {sql_string(json_path(keys[1:]))})"
        break
    if name in CLOUDTRAIL_FIELDS or any(name.startswith(p) for p in OPEN_OBJECTS):
        raise NoColumn(f"{name} has no column in the {table.name} table as AWS documents it ({table.source})")
    raise NoColumn(f"{name} is not a CloudTrail field")


#: The event data store's columns this backend reads, with their types as "Supported SQL schemas for event data
#: stores" lists them (LAKE.source); the tests build the table from it.
LAKE_SCHEMA: tuple[tuple[str, str], ...] = (
    ("eventversion", "string"),
    (
        "useridentity",
        ("struct<type:string,principalid:string,arn:string,accountid:string,accesskeyid:string,username:string,"
        "sessioncontext:struct<attributes:struct<creationdate:timestamp,mfaauthenticated:string>,"
        "sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,"
        "webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>,sourceidentity:string,"
        "ec2roledelivery:string,ec2issuedinvpc:string>,onbehalfof:struct<userid:string,identitystorearn:string>,"
        "invokedby:string,identityprovider:string>"),
    ),
    ("eventtime", "timestamp"),
    ("eventsource", "string"),
    ("eventname", "string"),
    ("awsregion", "string"),
    ("sourceipaddress", "string"),
    ("useragent", "string"),
    ("errorcode", "string"),
    ("errormessage", "string"),
    ("requestparameters", "map<string,string>"),
    ("responseelements", "map<string,string>"),
    ("additionaleventdata", "map<string,string>"),
    ("requestid", "string"),
    ("eventid", "string"),
    ("readonly", "boolean"),
    ("resources", "array<struct<accountid:string,type:string,arn:string,arnprefix:string>>"),
    ("eventtype", "string"),
    ("apiversion", "string"),
    ("managementevent", "boolean"),
    ("recipientaccountid", "string"),
    ("sharedeventid", "string"),
    ("vpcendpointid", "string"),
    ("serviceeventdetails", "map<string,string>"),
    ("eventcategory", "string"),
    ("tlsdetails", "struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>"),
    ("sessioncredentialfromconsole", "string"),
)
