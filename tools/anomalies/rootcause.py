"""Root cause: which values of which sub-dimensions moved an anomalous series, and who owns it.

For one anomaly, every value of each root-cause dimension *inside the anomaly's scope* (a
service's resources, an account's SKUs…) is its own daily series with its own seasonal baseline,
computed by the same SQL as detection. A value's contribution is its actual minus its expected
over the anomaly's counted days; values are ranked by contribution in the anomaly's direction and
the share is contribution / the anomaly's delta. Values that are new (no history) have expected 0,
so their whole cost is the contribution. To stay cheap on 10⁵ resources, a first pass ranks the
values by |actual − (mean of the 28 days before) × days| and only the `root_cause_candidates`
largest get an exact baseline; the rest are one `(other)` series with its own baseline, so the
contributions still add up to about the delta (medians are not additive: not exactly).

`explain_family` computes exactly what `explain` does for every anomaly of one family in one
statement: one scan of `costs` per join group of the dimensions (GROUP BY GROUPING SETS over the
rows inside any anomaly's scope and window), each anomaly's days shifted to a common start so a
single scoring pass serves all windows. `cause_keys` says what an explanation was computed from;
the service reuses a stored one whose key is unchanged and explains only the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tools.anomalies.config import DEFAULT_ROOT_CAUSE_DIMENSIONS, AnomalyConfig
from tools.anomalies.detect import Family, money
from tools.anomalies.models import Anomaly, Contributor
from tools.anomalies.sql import NONE_LABEL, raw_series_sql, scored_sql, series_key_sql
from tools.query import (
    Dimension,
    Engine,
    from_clause,
    literal,
    resolve_dimension,
    transpile,
    weighted,
)
from tools.settings import ToolSettings

__all__ = [
    "OTHER_LABEL",
    "cause_keys",
    "explain",
    "explain_family",
    "owner_of",
    "root_cause_dimensions",
]

OTHER_LABEL = "(other)"


def root_cause_dimensions(config: ToolSettings, cfg: AnomalyConfig) -> list[Dimension]:
    """The configured root-cause dimensions, or the defaults plus vtag:team when defined."""
    specs = list(cfg.root_cause_dimensions or DEFAULT_ROOT_CAUSE_DIMENSIONS)
    if cfg.root_cause_dimensions is None and "team" in config.virtual_tags:
        specs.append("vtag:team")
    return [resolve_dimension(s, config.virtual_tags) for s in specs]


def _scope(fam: Family, anomaly: Anomaly) -> str:
    clauses = [
        f"coalesce(CAST({d.sql} AS VARCHAR), {literal(NONE_LABEL)}) = "
        f"{literal(anomaly.series[d.name])}"
        for d in fam.dims
    ]
    return " AND ".join(clauses) or "1 = 1"


def _day(value: date) -> str:
    return f"CAST({literal(value.isoformat())} AS DATE)"


def _ts(value: date) -> str:
    return f"CAST({literal(value.isoformat())} AS TIMESTAMP)"


def _candidates_sql(branches: str, anomaly: Anomaly, keep: int) -> str:
    days = ", ".join(_day(d) for d in anomaly.counted_days)
    before = anomaly.start_day - timedelta(days=28)
    n = len(anomaly.counted_days)
    return f"""WITH raw0 AS ({branches}),
cand AS (SELECT s, k, abs(coalesce(sum(c) FILTER (WHERE d IN ({days})), 0)
         - {n} * coalesce(sum(c) FILTER (WHERE d >= {_day(before)}
                                   AND d < {_day(anomaly.start_day)}), 0) / 28.0) AS mv
         FROM raw0 GROUP BY s, k),
keep AS (SELECT s, k FROM cand QUALIFY row_number() OVER (PARTITION BY s ORDER BY mv DESC, k)
         <= {keep})
SELECT r.s, CASE WHEN keep.k IS NULL THEN {literal(OTHER_LABEL)} ELSE r.k END AS k, r.d,
       sum(r.c) AS c
FROM raw0 AS r LEFT JOIN keep ON keep.s = r.s AND keep.k = r.k GROUP BY 1, 2, 3"""


def _rank(
    rows: Sequence[tuple[Any, ...]], dims: Sequence[Dimension], anomaly: Anomaly, top: int
) -> dict[str, list[Contributor]]:
    sign = Decimal(-1 if anomaly.direction == "down" else 1)
    delta = anomaly.actual - anomaly.expected
    out: dict[str, list[Contributor]] = {}
    for dim_index, dim in enumerate(dims):
        items = []
        for s, k, actual, expected in rows:
            if s != dim_index:
                continue
            act, exp = money(actual), money(expected)
            share = ((act - exp) / delta).quantize(Decimal("0.001")) if delta else None
            items.append(
                Contributor(
                    dimension=dim.name,
                    value=str(k),
                    expected=exp,
                    actual=act,
                    delta=act - exp,
                    share=share,
                )
            )
        items.sort(key=lambda c: (-(c.delta * sign), c.value))
        out[dim.name] = items[:top]
    return out


def explain(
    engine: Engine,
    config: ToolSettings,
    cfg: AnomalyConfig,
    anomaly: Anomaly,
    fam: Family,
    cost: str,
) -> dict[str, list[Contributor]]:
    """Top contributors per root-cause dimension (dimensions of the series itself skipped)."""
    dims = [d for d in root_cause_dimensions(config, cfg) if d.name not in anomaly.series]
    if not dims or not anomaly.counted_days:
        return {}
    last = max(anomaly.counted_days)
    load_from = anomaly.start_day - timedelta(days=cfg.history_days())
    where = _scope(fam, anomaly)
    branches = " UNION ALL ".join(
        raw_series_sql(i, [d], cost, load_from, last, where=where, extra=fam.dims)
        for i, d in enumerate(dims)
    )
    raw = _candidates_sql(branches, anomaly, cfg.root_cause_candidates)
    days = ", ".join(_day(d) for d in anomaly.counted_days)
    sql = (
        f"WITH {scored_sql(raw, cfg, anomaly.start_day, last)} "
        f"SELECT x.s, x.k, sum(c) AS actual, sum(expected) AS expected FROM scored "
        f"JOIN series AS x USING (sid) WHERE d IN ({days}) GROUP BY x.s, x.k"
    )
    rows = engine.fetch(transpile(sql, engine.dialect))
    return _rank(rows, dims, anomaly, cfg.root_cause_top)


def _scan_sql(
    group: Sequence[tuple[int, Dimension]], fam: Family, cost: str, scopes: str, ncols: int
) -> str:
    """One scan of `costs` for the dimensions of one join group, every anomaly at once.

    Each row joins the scopes (anomaly `a`, day shift `sh`, window [lo, hi), family values)
    it falls in; GROUPING SETS give every dimension's daily sums from that single scan.
    """
    joined = [group[0][1], *fam.dims]
    amount = weighted(cost, joined)
    match = [
        f"coalesce(CAST({d.sql} AS VARCHAR), {literal(NONE_LABEL)}) = sc.v{j}"
        for j, d in enumerate(fam.dims)
    ]
    cond = " AND ".join(["ChargePeriodStart >= sc.lo", "ChargePeriodStart < sc.hi", *match])
    keys = ", ".join(f"{series_key_sql([d])} AS k{i}" for i, d in group)
    sets = ", ".join(f"(a, d, k{i})" for i, _ in group)
    pick_s = " ".join(f"WHEN GROUPING(k{i}) = 0 THEN {i}" for i, _ in group)
    pick_k = " ".join(f"WHEN GROUPING(k{i}) = 0 THEN k{i}" for i, _ in group)
    cols = ", ".join(["a", "sh", "lo", "hi", *(f"v{j}" for j in range(ncols))])
    scoped = f"JOIN ({scopes}) AS sc({cols}) ON {cond}"
    source = f"{from_clause(joined)} {scoped}"
    if not any(d.join for d in fam.dims):
        # the scope needs no join: keep only the scoped rows before any virtual-tag join
        rest = from_clause(joined).removeprefix("costs")
        source = f"(SELECT costs.*, sc.a, sc.sh FROM costs {scoped}) AS costs{rest}"
    return (
        f"SELECT a * {_SLOTS} + CASE {pick_s} END AS s, CASE {pick_k} END AS k, d, sum(c) AS c "
        f"FROM (SELECT a, CAST(ChargePeriodStart AS DATE) + sh AS d, {keys}, "
        f"CAST({amount} AS DOUBLE) AS c FROM {source}) AS r0 "
        f"GROUP BY GROUPING SETS ({sets})"
    )


_SLOTS = 64
"""Series family index `s` of the batched statement: anomaly number × _SLOTS + dimension."""
_BASE = date(2000, 1, 3)
"""Every anomaly's days are shifted so that its start day is this day: the baselines only use
day differences and weekday groups (a shift permutes weekdays the same way for every day of a
series), so one scoring pass serves anomalies with different windows."""


def _cd_key(s: str, d: str) -> str:
    return f"({s} // {_SLOTS}) * 10000 + datediff('day', {_day(_BASE)}, {d})"


def _batched_sql(
    fam: Family,
    dims: Sequence[Dimension],
    anomalies: Sequence[Anomaly],
    cost: str,
    cfg: AnomalyConfig,
) -> str:
    history = cfg.history_days()
    scope_rows, counted = [], []
    for n, a in enumerate(anomalies):
        shift = (_BASE - a.start_day).days
        lo = a.start_day - timedelta(days=history)
        hi = max(a.counted_days) + timedelta(days=1)
        values = [literal(a.series[d.name]) for d in fam.dims]
        row = [str(n), str(shift), _ts(lo), _ts(hi), *values]
        scope_rows.append(f"({', '.join(row)})")
        counted += [f"({n}, {(d - a.start_day).days})" for d in a.counted_days]
    scopes = f"SELECT * FROM (VALUES {', '.join(scope_rows)}) AS t"
    groups: dict[tuple[str, str], list[tuple[int, Dimension]]] = {}
    for i, d in enumerate(dims):
        joined = [d, *fam.dims]
        groups.setdefault((from_clause(joined), weighted(cost, joined)), []).append((i, d))
    scans = " UNION ALL ".join(
        _scan_sql(g, fam, cost, scopes, len(fam.dims)) for g in groups.values()
    )
    # counted days as one integer key: anomaly number × 10⁴ + days after its (shifted) start
    cd = f"cd AS (SELECT a, a * 10000 + o AS q FROM (VALUES {', '.join(counted)}) AS t(a, o))"
    before = _BASE - timedelta(days=28)
    last = _BASE + max(max(a.counted_days) - a.start_day for a in anomalies)
    keep = cfg.root_cause_candidates
    raw = f"""WITH raw0 AS ({scans}),
{cd},
nn AS (SELECT a, count(*) AS n FROM cd GROUP BY a),
cand AS (SELECT r.s, r.k, abs(coalesce(sum(r.c) FILTER (WHERE cd.q IS NOT NULL), 0)
         - nn.n * coalesce(sum(r.c) FILTER (WHERE r.d >= {_day(before)}
                                     AND r.d < {_day(_BASE)}), 0) / 28.0) AS mv
         FROM raw0 AS r LEFT JOIN cd ON cd.q = {_cd_key("r.s", "r.d")}
         JOIN nn ON nn.a = r.s // {_SLOTS} GROUP BY r.s, r.k, nn.n),
keep AS (SELECT s, k FROM cand QUALIFY row_number() OVER (PARTITION BY s ORDER BY mv DESC, k)
         <= {keep})
SELECT r.s, CASE WHEN keep.k IS NULL THEN {literal(OTHER_LABEL)} ELSE r.k END AS k, r.d,
       sum(r.c) AS c
FROM raw0 AS r LEFT JOIN keep ON keep.s = r.s AND keep.k = r.k GROUP BY 1, 2, 3"""
    return (
        f"WITH {scored_sql(raw, cfg, _BASE, last)}, {cd} "
        f"SELECT x.s, x.k, sum(c) AS actual, sum(expected) AS expected FROM scored "
        f"JOIN series AS x USING (sid) JOIN cd ON cd.q = {_cd_key('x.s', 'scored.d')} "
        f"GROUP BY x.s, x.k"
    )


def explain_family(
    engine: Engine,
    config: ToolSettings,
    cfg: AnomalyConfig,
    anomalies: Sequence[Anomaly],
    fam: Family,
    cost: str,
) -> list[dict[str, list[Contributor]]]:
    """`explain` for every anomaly of one family in one statement (one scan of `costs` per
    join group of the root-cause dimensions); the same contributors, in `anomalies`' order."""
    out: list[dict[str, list[Contributor]]] = [{} for _ in anomalies]
    dims = [d for d in root_cause_dimensions(config, cfg) if d.name not in fam.names]
    todo = [n for n, a in enumerate(anomalies) if a.counted_days]
    if len(dims) > _SLOTS:  # more dimensions than the batched statement numbers
        return [explain(engine, config, cfg, a, fam, cost) for a in anomalies]
    if not dims or not todo:
        return out
    batch = [anomalies[n] for n in todo]
    sql = _batched_sql(fam, dims, batch, cost, cfg)
    rows: dict[int, list[tuple[Any, ...]]] = {}
    for s, k, actual, expected in engine.fetch(transpile(sql, engine.dialect)):
        rows.setdefault(int(s) // _SLOTS, []).append((int(s) % _SLOTS, k, actual, expected))
    for m, n in enumerate(todo):
        out[n] = _rank(rows.get(m, []), dims, anomalies[n], cfg.root_cause_top)
    return out


def _day_stats(engine: Engine, cost: str, since: date, until: date) -> dict[date, list[str]]:
    """Per charge day in [since, until]: rows, exact cost, ingest ids and time — what changes
    when rows of that day are added, restated or re-ingested (one small aggregation)."""
    rows = engine.query(
        f"SELECT CAST(ChargePeriodStart AS DATE) AS d, count(*), CAST(sum({cost}) AS VARCHAR), "
        "min(x_IngestId), max(x_IngestId), CAST(max(x_IngestedAt) AS VARCHAR) FROM costs "
        f"WHERE ChargePeriodStart >= {_ts(since)} "
        f"AND ChargePeriodStart < {_ts(since + timedelta(days=(until - since).days + 1))} "
        "GROUP BY 1"
    )
    return {r[0]: [str(v) for v in r[1:]] for r in rows}


def cause_keys(
    engine: Engine,
    config: ToolSettings,
    cfg: AnomalyConfig,
    anomalies: Sequence[Anomaly],
    fams: Sequence[Family],
    cost: str,
) -> list[str]:
    """What each anomaly's root cause is computed from, hashed: its id, series, direction,
    window and figures, the settings and dimensions, the virtual-tag definitions, and the cost
    rows of every day the explanation reads. An unchanged key means an unchanged explanation."""
    if not anomalies:
        return []
    history = timedelta(days=cfg.history_days())
    lows = [a.start_day - history for a in anomalies]
    highs = [max(a.counted_days, default=a.start_day) for a in anomalies]
    stats = _day_stats(engine, cost, min(lows), max(highs))
    by_names = {f.names: f for f in fams}
    dims = root_cause_dimensions(config, cfg)
    defs = ""
    if any(d.join for d in dims) or any(d.join for f in fams for d in f.dims):
        from tools.vtags.allocate import definitions_sha

        defs = definitions_sha(config)
    common = [cfg.model_dump_json(), cost, defs, [(d.name, d.sql, d.join, d.weight) for d in dims]]
    keys = []
    for a, lo, hi in zip(anomalies, lows, highs, strict=True):
        fam = by_names.get(tuple(a.series))
        days = [
            [d.isoformat(), stats.get(d)]
            for d in (lo + timedelta(days=i) for i in range((hi - lo).days + 1))
        ]
        doc = [
            "root-cause-1",
            a.id,
            sorted(a.series.items()),
            a.direction,
            a.start_day.isoformat(),
            [d.isoformat() for d in a.counted_days],
            str(a.expected),
            str(a.actual),
            [(d.name, d.sql, d.join, d.weight) for d in (fam.dims if fam else ())],
            common,
            days,
        ]
        keys.append(hashlib.sha256(json.dumps(doc, default=str).encode()).hexdigest())
    return keys


def owner_of(anomaly: Anomaly) -> str | None:
    """The team: the series' own `vtag:team`, else the team that moved most in its direction."""
    if "vtag:team" in anomaly.series:
        return anomaly.series["vtag:team"]
    top = anomaly.top("vtag:team")
    if top is None or (top.delta > 0) != (anomaly.direction == "up") or top.delta == 0:
        return None
    return top.value
