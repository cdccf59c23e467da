"""PutQueryDefinition requests: the one builder behind the backend's `query_definition` output format and the pack's
query definition files and CloudFormation resources, so the saved query is the same wherever it comes from.

Request members (PutQueryDefinition API reference and botocore's `logs-2014-03-28` model): `name` (required,
1-255 characters), `queryString` (required, 1-10,000 characters), `logGroupNames` (items 1-512 characters of
`[.\\-_/#A-Za-z0-9]`), `queryLanguage` (`CWLI` | `SQL` | `PPL`). The API documents no default for
`queryLanguage`, so the request names Logs Insights QL (`CWLI`) instead of relying on one; an AWS CLI whose model
predates the member rejects the request ("Unknown parameter in input") rather than running it otherwise.
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutQueryDefinition.html
"""

from __future__ import annotations

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from .limits import (
    LOG_GROUP_NAME_MAX_LENGTH,
    LOG_GROUP_NAME_PATTERN,
    QUERY_DEFINITION_NAME_MAX_LENGTH,
    QUERY_STRING_MAX_LENGTH,
)

QUERY_LANGUAGE = "CWLI"  # Logs Insights QL


def check_query_length(query: str, what: str = "the Logs Insights query") -> str:
    """`query` if StartQuery and PutQueryDefinition accept its length, else the error naming the limit."""
    if len(query) > QUERY_STRING_MAX_LENGTH:
        raise SigmaFeatureNotSupportedByBackendError(
            f"{what} is {len(query)} characters; StartQuery and PutQueryDefinition accept at most "
            f"{QUERY_STRING_MAX_LENGTH} (queryString length constraint)"
        )
    return query


def bad_log_group_name(name: str) -> str | None:
    """Why PutQueryDefinition would reject `name` as a log group name, or None."""
    if len(name) > LOG_GROUP_NAME_MAX_LENGTH or not LOG_GROUP_NAME_PATTERN.fullmatch(name):
        return (
            f"log group name {name!r} is not valid for PutQueryDefinition (1-{LOG_GROUP_NAME_MAX_LENGTH} "
            "characters of letters, digits, '.', '-', '_', '/' and '#')"
        )
    return None


def query_definition(name: str, query_string: str, log_group_names: list[str]) -> dict:
    """The PutQueryDefinition request saving `query_string` as `name` for the given log groups, checked against the
    API's limits (SigmaFeatureNotSupportedByBackendError naming the limit)."""
    if not name:
        raise SigmaFeatureNotSupportedByBackendError("PutQueryDefinition needs a non-empty name")
    if len(name) > QUERY_DEFINITION_NAME_MAX_LENGTH:
        raise SigmaFeatureNotSupportedByBackendError(
            f"query definition name is {len(name)} characters; PutQueryDefinition accepts at most "
            f"{QUERY_DEFINITION_NAME_MAX_LENGTH} (shorten the title or the prefix)"
        )
    if not query_string:
        raise SigmaFeatureNotSupportedByBackendError("PutQueryDefinition needs a non-empty queryString")
    check_query_length(query_string)
    for group in log_group_names:
        reason = bad_log_group_name(group)
        if reason:
            raise SigmaFeatureNotSupportedByBackendError(reason)
    return {
        "name": name,
        "queryString": query_string,
        "logGroupNames": list(log_group_names),
        "queryLanguage": QUERY_LANGUAGE,
    }
