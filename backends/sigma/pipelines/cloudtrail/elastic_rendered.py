"""Request and response keys matched in the keyword strings Elastic's AWS integration renders them into, where
the `flattened` copy cannot be queried.

The integration keeps CloudTrail's requestParameters, responseElements and serviceEventDetails twice (script tag
script_duplicate_rules_fields of elastic/integrations packages/aws/data_stream/cloudtrail/elasticsearch/
ingest_pipeline/default.yml @ 0b97ab02df57b57303b67e48840bb75dfe5c4738):

    ctx.aws.cloudtrail.request_parameters = ctx.json.requestParameters.toString();
    ctx.aws.cloudtrail.flattened.request_parameters = ctx.json.requestParameters;   (retain unset/all/flattened/minimal)

and the same for response_elements and service_event_details (fields.yml: keyword, and flattened under
`flattened.`). The string is java.util.AbstractMap.toString of the HashMap the `json`
processor built: `{key=value, key=value}`, entries in the map's hash order, `, ` between entries, a nested map
as `{...}`, a list as `[a, b]`, strings raw: nothing is quoted or escaped (tests/elastic_ingest.py,
`java_to_string`, reproduces it). The field is a `keyword` (fields.yml; `ignore_above: 8191`).

EQL and ES|QL cannot read a key of a flattened field (EQL: verification_exception "unsupported type [flattened]",
elastic/elasticsearch#101985), and Elasticsearch runs no regular expression on one. Elastic's own prebuilt AWS
rules query the string instead (e.g. "AWS IAM CompromisedKeyQuarantine Policy Attached to User", EQL:
`stringContains(aws.cloudtrail.request_parameters, "AWSCompromisedKeyQuarantine")`). So does the pipeline,
but anchored on the entry: `requestParameters.<key>: <value>` becomes a Lucene RegExp on
`aws.cloudtrail.request_parameters` that holds when the rendering has the entry `<key>=<value>` right after
the opening `{` or after `, `, and followed by `, ` or the closing `}`:

    \\{(.*\\,\\ )?status\\=[iI][nN][aA][cC][tT][iI][vV][eE](\\,\\ .*)?\\}

(the value in both cases, as Sigma compares). A `|re` value is searched in what follows `<key>=` (its `^`
right after `=`, its `$` before `, ` or `}`). A user named `x,status=Inactive` renders `userName=x,status=Inactive`:
no `, ` before `status`, no match.

What the rendering cannot tell apart, and the query therefore does not either (each Kibana rule's note says it):
a value that itself holds `, <key>=<value>, ` (or `}`) renders exactly like that entry, and a nested map's
entry renders like a top-level one; a `|re` value may match on in the entries that follow its key's.
Top-level keys only are matched this way (`requestParameters.<key>`, no dot in <key>), with plain strings
and regular expressions; a value longer than `ignore_above` (8191 characters of rendering) is not indexed,
so no query on the string matches it. The strings exist unless the integration's `retain` option is set to
something other than `all`, `keyword` or `minimal` (the flattened copy is what `keyword` drops and `minimal` cuts).

Lucene keeps plain values on the flattened key, where a term is exact; it uses the string for regular
expressions, which Elasticsearch refuses on flattened keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetectionItem
from sigma.types import SigmaRegularExpression, SigmaString

from . import pysigma_compat
from .elastic_values import EQL, ESQL, ElasticRegularExpression, python_flags, regex_literal
from .lucene_regexp import RegexUnsupported, lucene_regexp_union

TARGET = "ecs_cloudtrail"

#: The flattened object a CloudTrail object is copied into -> the keyword string it is rendered into.
RENDERED: dict[str, str] = {
    "aws.cloudtrail.flattened.request_parameters.": "aws.cloudtrail.request_parameters",
    "aws.cloudtrail.flattened.response_elements.": "aws.cloudtrail.response_elements",
    "aws.cloudtrail.flattened.service_event_details.": "aws.cloudtrail.service_event_details",
}
#: Elasticsearch's `index.max_regex_length` default: a longer regular expression is refused.
MAX_REGEX_LENGTH = 1000
#: Characters a key of the rendering cannot hold for its entry to be found (they delimit entries).
_KEY_DELIMITERS = re.compile(r"[=,{}\[\] \r\n]")
#: Lucene RegExp around an entry: the map's `{` or a previous entry's `, ` before it; `, ` or the map's `}` after it.
_BEFORE = r"\{(.*\,\ )?"
_AFTER = r"(\,\ .*)?\}"


def rendered_home(home: str) -> tuple[str, str] | None:
    """(the keyword string, the top-level key) for a flattened ECS key the string renders, else None."""
    for prefix, string in RENDERED.items():
        if home.startswith(prefix) and "." not in home[len(prefix) :]:
            return string, home[len(prefix) :]
    return None


def uses_rendering(home: str, values, backend: str | None) -> bool:
    """Whether an item on `home` is matched in the rendering: EQL and ES|QL always (they cannot read the key),
    Lucene for regular expressions only."""
    if rendered_home(home) is None:
        return False
    return backend in (EQL, ESQL) or any(isinstance(v, SigmaRegularExpression) for v in values)


def _refuse(field: str, reason: str) -> None:
    raise SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {field}: {reason}")


def check_rendered(field: str, home: str, values) -> None:
    """Refuse, with the reason, what the rendering cannot be searched for (before conversion)."""
    string, key = rendered_home(home)
    if _KEY_DELIMITERS.search(key):
        _refuse(field, f"the key {key!r} holds a character the {string} rendering delimits entries with")
    for value in values:
        if isinstance(value, SigmaRegularExpression):
            continue
        if not isinstance(value, SigmaString):
            _refuse(field, f"only strings and regular expressions are matched in the {string} rendering, not {type(value).__name__}")
        if value.contains_special():
            _refuse(field, f"wildcards are not matched in the {string} rendering (write a regular expression)")


def _plain_text(value: SigmaString) -> str:
    return "".join(part for part in value.s if isinstance(part, str))


def _literal(c: str) -> str:
    return c if c.isascii() and c.isalnum() else "\\" + c


def _ascii_caseless(text: str) -> str:
    """`text` as a Lucene RegExp matching it with ASCII letters in either case (SQLite's NOCASE, the reference
    engine's Sigma comparison)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isascii() and c.isalpha() else _literal(c) for c in text)


def entry_patterns(key: str, value) -> list[str]:
    """Lucene RegExps whose union holds for a rendering with the entry `key` = `value` (module docstring)."""
    head = _BEFORE + "".join(map(_literal, key)) + r"\="
    if isinstance(value, SigmaString):
        return [head + _ascii_caseless(_plain_text(value)) + _AFTER]
    original = value.original if isinstance(value, ElasticRegularExpression) else value
    try:
        bodies, _ = lucene_regexp_union(str(original.regexp), python_flags(original))
    except RegexUnsupported as e:
        _refuse(key, f"{e}: Lucene regular expressions have no equivalent")
        raise  # unreachable
    return [head + body + ("" if body.endswith(".*") else _AFTER) for body in bodies]


@dataclass
class RenderedEntryTransformation(DetectionItemTransformation):
    """After the field mapping: an item on a rendered flattened key (`uses_rendering`) becomes regular expressions
    on the keyword string, each already written for the backend (ElasticRegularExpression)."""

    def apply_detection_item(self, detection_item: SigmaDetectionItem):  # type: ignore[override]
        backend = pysigma_compat.backend_name(self)
        if detection_item.field is None or backend is None:
            return None
        home = ".".join(p[1:-1] if p.startswith("`") else p for p in detection_item.field.split("."))
        if not uses_rendering(home, detection_item.value, backend):
            return None
        string, key = rendered_home(home)
        written = []
        for value in detection_item.value:
            for pattern in entry_patterns(key, value):
                if len(pattern) > MAX_REGEX_LENGTH:
                    _refuse(
                        f"{key}",
                        f"the regular expression on {string} would be {len(pattern)} characters, over "
                        f"Elasticsearch's index.max_regex_length ({MAX_REGEX_LENGTH})",
                    )
                written.append(ElasticRegularExpression(regex_literal(pattern, backend), value))
        detection_item.field = string
        detection_item.value = written
        return detection_item
