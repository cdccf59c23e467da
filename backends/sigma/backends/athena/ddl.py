"""The Athena table the `athena` backend queries: AWS's documented CloudTrail table, with partition projection
over an organization trail's S3 layout.

Columns: exactly those of AWS's "Create the table for CloudTrail logs in Athena using partition projection"
(https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html; SerDe, input
format and column types as there). Partitions: that page projects one account and Region
(`.../AWSLogs/<account>/CloudTrail/<region>/<yyyy/MM/dd>`); an organization trail writes under the organization
id, `s3://<bucket>/AWSLogs/<o-xxxxxxxxxx>/<account>/CloudTrail/<region>/<yyyy>/<MM>/<dd>/`
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html), under the trail's
S3 key prefix when it has one (`s3://<bucket>/<prefix>/AWSLogs/...`), so `account` and `region` are projected too.

`account` is `injected`: its values come from each query's `account IN (...)`, not from the table
(https://docs.aws.amazon.com/athena/latest/ug/partition-projection-dynamic-id-partitioning.html), so an account
created or invited after the table is searched as soon as a query names it, with no table edit and no crawler
(an `enum` searches only the accounts listed when the table was made: what the T1666 rules are about would be
missed). The queries name them with `${ACCOUNT_IDS}`, filled in at run time from the bucket's own account
folders (docs/athena.md). `region` stays an `enum` (a fixed, short list) and `timestamp` a date: every query
filters both, so Athena reads only the Regions and days it needs.
"""

from __future__ import annotations

#: The table's name in the DDL and in every query (AthenaBackend.default_table).
TABLE = "cloudtrail_organization"

#: Placeholders of the DDL, replaced before it is run: name -> what to put there.
PARAMETERS: dict[str, str] = {
    "BUCKET": "the organization trail's S3 bucket (name only)",
    "KEY_PREFIX": "the trail's S3 key prefix followed by /, e.g. cloudtrail/ (empty when the trail has none)",
    "ORGANIZATION_ID": "the organization id in the trail's prefix, o-xxxxxxxxxx",
    "REGIONS": "comma-separated Regions to search, e.g. us-east-1,eu-west-1 (IAM and Organizations events are in us-east-1)",
    "START_DATE": "first day with logs, yyyy/MM/dd (partition projection range start)",
}

COLUMNS = """\
    eventversion STRING,
    useridentity STRUCT<
        type: STRING,
        principalid: STRING,
        arn: STRING,
        accountid: STRING,
        invokedby: STRING,
        accesskeyid: STRING,
        username: STRING,
        onbehalfof: STRUCT<
             userid: STRING,
             identitystorearn: STRING>,
        sessioncontext: STRUCT<
            attributes: STRUCT<
                mfaauthenticated: STRING,
                creationdate: STRING>,
            sessionissuer: STRUCT<
                type: STRING,
                principalid: STRING,
                arn: STRING,
                accountid: STRING,
                username: STRING>,
            ec2roledelivery: STRING,
            webidfederationdata: STRUCT<
                federatedprovider: STRING,
                attributes: MAP<STRING,STRING>>
        >
    >,
    eventtime STRING,
    eventsource STRING,
    eventname STRING,
    awsregion STRING,
    sourceipaddress STRING,
    useragent STRING,
    errorcode STRING,
    errormessage STRING,
    requestparameters STRING,
    responseelements STRING,
    additionaleventdata STRING,
    requestid STRING,
    eventid STRING,
    readonly STRING,
    resources ARRAY<STRUCT<
        arn: STRING,
        accountid: STRING,
        type: STRING>>,
    eventtype STRING,
    apiversion STRING,
    recipientaccountid STRING,
    serviceeventdetails STRING,
    sharedeventid STRING,
    vpcendpointid STRING,
    vpcendpointaccountid STRING,
    eventcategory STRING,
    addendum STRUCT<
        reason: STRING,
        updatedfields: STRING,
        originalrequestid: STRING,
        originaleventid: STRING>,
    sessioncredentialfromconsole STRING,
    edgedevicedetails STRING,
    tlsdetails STRUCT<
        tlsversion: STRING,
        ciphersuite: STRING,
        clientprovidedhostheader: STRING>"""

PARTITIONS = """\
    `account` STRING,
    `region` STRING,
    `timestamp` STRING"""


def envsubst_names() -> str:
    """The SHELL-FORMAT argument that limits envsubst to the DDL's parameters."""
    return " ".join("$" + name for name in PARAMETERS)


def location(prefix: str = "${KEY_PREFIX}") -> str:
    """The S3 folder of the organization's logs: bucket, the trail's key prefix (empty, or ending in /), AWSLogs."""
    return "s3://${BUCKET}/" + prefix + "AWSLogs/${ORGANIZATION_ID}"


def create_table(table: str = TABLE) -> str:
    """The CREATE EXTERNAL TABLE statement, `${NAME}` placeholders (PARAMETERS) left for the user. The comment names
    the parameters without a dollar sign, so envsubst (docs/athena.md) leaves it as written."""
    where = location()
    return f"""\
-- CloudTrail organization trail table for Amazon Athena, with partition projection.
-- Columns: AWS, "Create the table for CloudTrail logs in Athena using partition projection",
--   https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html
-- Layout: s3://<bucket>/<key prefix>/AWSLogs/<organization id>/<account>/CloudTrail/<region>/<yyyy>/<MM>/<dd>/
--   (organization trail; no <key prefix>/ when the trail has none).
-- account is injected: each query names the accounts to read, so an account that joins later needs no table edit.
-- Before running, replace the parameters listed at the end, and only those: account, region and timestamp in the
-- location template are the projection's own. docs/athena.md shows envsubst doing it.
CREATE EXTERNAL TABLE {table} (
{COLUMNS}
)
PARTITIONED BY (
{PARTITIONS}
)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{where}/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.account.type'='injected',
  'projection.region.type'='enum',
  'projection.region.values'='${{REGIONS}}',
  'projection.timestamp.type'='date',
  'projection.timestamp.format'='yyyy/MM/dd',
  'projection.timestamp.range'='${{START_DATE}},NOW',
  'projection.timestamp.interval'='1',
  'projection.timestamp.interval.unit'='DAYS',
  'storage.location.template'='{where}/${{account}}/CloudTrail/${{region}}/${{timestamp}}'
)
"""
