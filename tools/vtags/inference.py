"""Inference: what the tagged population says about spend no tag or rule allocates.

Features of every allocation key (one per resource / account / tag combination):

- `account`: the sub-account (AWS account, Azure subscription, GCP project, AI workspace);
- `name`: each token of the resource name (or id when there is no name), e.g. `payments`, `api`;
- `namespace`: the Kubernetes namespace label;
- `service`: the service in its region (a weak signal, kept for completeness);
- `value_in_name`: the resource, account or namespace name contains a value the tag already uses
  (`search-reindex-tmp` contains `search`), when exactly one value matches.

For the learned features, the tagged population votes: the share of distinct tagged resources with
that feature value that carry each tag value. Confidence is `n / (total + 1)`, so 3 of 3 gives
0.75 and 41 of 43 gives 0.93: small samples never reach certainty. The best feature wins; the
reason says which and how many ("account payments-prod: 41 of 43 tagged resources say
payments"). Keys below `min_confidence` stay unallocated and keep their best guess as a candidate.

The SQL is DuckDB's dialect and portable through the query layer's transpilation (one generator
per SELECT, `[alias, value]` pairs rather than a MAP), so Spark runs the same text.
"""

from __future__ import annotations

from collections.abc import Mapping

from tools.query import literal
from tools.vtags.definitions import VirtualTag
from tools.vtags.normalize import normalize_sql

__all__ = ["FEATURE_PRIORITY", "guess_sql"]

FEATURE_PRIORITY = ("name", "namespace", "account", "value_in_name", "service")
"""Tie-break order between features of equal confidence (most specific first)."""

_TOKEN_SPLIT = "[^a-z0-9]+"


def _namespace_sql(tags: Mapping[str, VirtualTag]) -> str:
    keys = sorted({k for vt in tags.values() for k in vt.inference.namespace_keys})
    if not keys:
        return "CAST(NULL AS VARCHAR)"
    paths = [
        "json_extract_string(Tags, " + literal('$."' + k.replace('"', "") + '"') + ")" for k in keys
    ]
    return "coalesce(" + ", ".join(paths) + ")"


def _features_sql(tags: Mapping[str, VirtualTag]) -> str:
    ns = _namespace_sql(tags)
    return f"""
CREATE OR REPLACE TEMP TABLE vtag_features AS
WITH a AS (
  SELECT k, coalesce(ResourceId, 'key:' || CAST(k AS VARCHAR)) AS rid, SubAccountId,
    coalesce(SubAccountName, SubAccountId) AS account_label, ResourceName, ResourceId,
    ServiceName, RegionId, {ns} AS ns
  FROM vtag_attrs
),
tokens AS (
  SELECT k, rid, unnest(string_split_regex(lower(coalesce(ResourceName, ResourceId, '')),
    '{_TOKEN_SPLIT}')) AS tok
  FROM a
)
SELECT DISTINCT * FROM (
  SELECT k, rid, 'account' AS feature, SubAccountId AS fvalue, account_label AS label
  FROM a WHERE SubAccountId IS NOT NULL
  UNION ALL
  SELECT k, rid, 'name', tok, tok FROM tokens
  WHERE length(tok) >= 3 AND NOT regexp_matches(tok, '^[0-9]+$')
    AND NOT regexp_matches(tok, '^[0-9a-f]{{8,}}$')
  UNION ALL
  SELECT k, rid, 'namespace', ns, ns FROM a WHERE ns IS NOT NULL AND ns <> ''
  UNION ALL
  SELECT k, rid, 'service', ServiceName || ' in ' || coalesce(RegionId, 'global'),
    ServiceName || ' in ' || coalesce(RegionId, 'global')
  FROM a WHERE ServiceName IS NOT NULL
)
"""


_LEARNED = """
CREATE OR REPLACE TEMP TABLE vtag_learned AS
WITH labeled AS (
  SELECT d.vtag, d.k, coalesce(d.src_value, d.rule_value) AS value
  FROM vtag_direct d JOIN vtag_params p USING (vtag)
  WHERE p.enabled AND coalesce(d.src_value, d.rule_value) IS NOT NULL
),
votes AS (
  SELECT l.vtag, f.feature, f.fvalue, l.value, count(DISTINCT f.rid) AS n
  FROM labeled l JOIN vtag_features f USING (k)
  GROUP BY ALL
)
SELECT *, sum(n) OVER (PARTITION BY vtag, feature, fvalue) AS total FROM votes
"""

_GUESS = """
CREATE OR REPLACE TABLE vtag_guess AS
WITH open_keys AS (
  SELECT d.vtag, d.k FROM vtag_direct d JOIN vtag_params p USING (vtag)
  WHERE p.enabled AND d.src_value IS NULL AND d.rule_value IS NULL
),
learned AS (
  SELECT o.vtag, o.k, f.feature, l.value, l.n, l.total,
    CAST(l.n AS DOUBLE) / (l.total + 1) AS confidence,
    CASE f.feature
      WHEN 'account' THEN 'account ' || f.label
      WHEN 'name' THEN 'name token "' || f.label || '"'
      WHEN 'namespace' THEN 'namespace ' || f.label
      ELSE 'service ' || f.label END
      || ': ' || l.n || ' of ' || l.total || ' tagged resources say ' || l.value AS reason
  FROM open_keys o
  JOIN vtag_features f USING (k)
  JOIN vtag_params p ON p.vtag = o.vtag
  JOIN vtag_learned l ON l.vtag = o.vtag AND l.feature = f.feature AND l.fvalue = f.fvalue
  WHERE l.n >= p.min_support AND list_contains(p.features, f.feature)
),
known AS (
  SELECT DISTINCT vtag, needle, value FROM (
    SELECT vtag, value AS needle, value FROM vtag_learned
    UNION ALL
    SELECT vtag, v AS needle, v AS value
    FROM (SELECT vtag, unnest(known_values) AS v FROM vtag_params)
    UNION ALL
    SELECT vtag, pair[1] AS needle, pair[2] AS value
    FROM (SELECT vtag, unnest(aliases) AS pair FROM vtag_params)
  ) JOIN vtag_params p USING (vtag)
  WHERE value <> p.default_value
),
texts AS (
  SELECT k, kind, text FROM (
    SELECT k, 'resource name' AS kind, ResourceName AS text FROM vtag_attrs
    UNION ALL SELECT k, 'resource id', ResourceId FROM vtag_attrs
    UNION ALL SELECT k, 'account', coalesce(SubAccountName, SubAccountId) FROM vtag_attrs
    UNION ALL SELECT k, 'namespace', label FROM vtag_features WHERE feature = 'namespace'
  ) WHERE text IS NOT NULL AND text <> ''
),
mentions AS (
  SELECT o.vtag, o.k, t.kind, t.text, kn.needle, kn.value
  FROM open_keys o
  JOIN vtag_params p ON p.vtag = o.vtag
  JOIN texts t ON t.k = o.k
  JOIN known kn ON kn.vtag = o.vtag
  WHERE list_contains(p.features, 'value_in_name')
    AND contains('-' || {norm_text} || '-', '-' || {norm_needle} || '-')
),
named AS (
  SELECT m.vtag, m.k, 'value_in_name' AS feature, min(m.value) AS value, 1 AS n, 1 AS total,
    any_value(p.name_confidence) AS confidence,
    min(m.kind || ' "' || m.text || '" contains "' || m.needle || '"') AS reason
  FROM mentions m JOIN vtag_params p USING (vtag)
  GROUP BY m.vtag, m.k
  HAVING count(DISTINCT m.value) = 1
),
ranked AS (
  SELECT *, row_number() OVER (
    PARTITION BY vtag, k
    ORDER BY confidence DESC, array_position({priority}, feature), n DESC, value
  ) AS rn
  FROM (SELECT * FROM learned UNION ALL SELECT * FROM named)
)
SELECT vtag, k, value, confidence, reason, feature FROM ranked WHERE rn = 1
"""


def guess_sql(tags: Mapping[str, VirtualTag]) -> list[str]:
    """The statements that create `vtag_features`, `vtag_learned` and `vtag_guess`."""
    priority = "[" + ", ".join(literal(f) for f in FEATURE_PRIORITY) + "]"
    guess = _GUESS.format(
        norm_text=normalize_sql("t.text", "lower", "-"),
        norm_needle=normalize_sql("kn.needle", "lower", "-"),
        priority=priority,
    )
    return [_features_sql(tags), _LEARNED, guess]
