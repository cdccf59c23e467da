"""The SigmaHQ AWS CloudTrail rules (the shared, read-only corpus beside the project: tests/sigmahq_corpus.py)
through the Splunk target: the regrouping reads every expression the backend writes for them, and every shipped
search has one boolean reading, the same under the search command's order and under where/eval's."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.pipelines.cloudtrail.splunk import FILTER_DEFINITION, SCOPE_DEFINITION, SCOPE_MACRO

from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import backend_for
from evaluators.spl import SplunkEvaluator, expand_macros, parse_search_expr, split_pipeline
from sigmahq_corpus import RULE_FILES, needs_corpus

pytestmark = needs_corpus

#: Rules the Splunk target refuses, with the reason (a substring of the error); none is the regrouping's.
REFUSALS = {
    "aws_cloudtrail_console_login_success_from_susp_locations.yml": "src_country, src_ip do not exist",
    "aws_delete_saml_provider.yml": "status do not exist",
}


@functools.cache
def convert(path: Path) -> list[str]:
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), source=SigmaRuleLocation(path))
    return backend_for(TARGETS["splunk"]).convert(collection)


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_corpus_rule_converts_or_is_refused_for_its_known_reason(path):
    if path.name in REFUSALS:
        with pytest.raises(SigmaError, match=re.escape(REFUSALS[path.name])):
            convert(path)
    else:
        assert len(convert(path)) == 1


@pytest.mark.parametrize("path", [p for p in RULE_FILES if p.name not in REFUSALS], ids=lambda p: p.name)
def test_corpus_search_reads_the_same_under_either_precedence(path):
    (search,) = convert(path)
    tuning = search.rsplit("`", 2)[1]  # the search ends in | `<slug>_filter`
    macros = {SCOPE_MACRO: SCOPE_DEFINITION, tuning: FILTER_DEFINITION}
    head = split_pipeline(expand_macros(search, macros))[0]
    assert parse_search_expr(head) == parse_search_expr(head, precedence="eval")
    SplunkEvaluator(macros).parse(search)  # the whole search is inside the evaluator's subset


def test_sigmahq_login_profile_rule_compares_the_arn_with_the_name_as_written():
    """SigmaHQ compares the caller's ARN with a bare user name, which never match: the shipped `| where` says so
    exactly (case-insensitively, null-safe), and leaves the rule's meaning to the rule."""
    (search,) = convert(next(p for p in RULE_FILES if p.name == "aws_update_login_profile.yml"))
    assert (
        "\n| where NOT (isnotnull('userIdentity.arn') AND isnotnull('requestParameters.userName') AND "
        "lower('userIdentity.arn')==lower('requestParameters.userName'))\n" in search
    )
