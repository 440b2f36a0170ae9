"""SQL for anomaly detection: daily series, seasonal robust baselines, flags and episodes.

Everything heavy runs inside the warehouse in one statement (DuckDB dialect, transpiled by the
query layer): one hash aggregation of `costs` into daily series, one sort per series for the
lags and the trailing median, grouped aggregates for the reference profile and noise, and window
functions over the (few) flagged days for episodes. Values only enter through `literal()`.

The statement only uses constructs every engine has (or that `warehouse.engines.dialects`
rewrites): the median absolute deviation is a median of deviations from the median, the
calendar a literal list of days, series numbers an ordered `row_number()`.

Relations: `raw(s, k, d, c)` is a series family index `s`, a series key `k` (the dimension
values joined by U+001F), a day `d` and its cost `c` (DOUBLE; statistics do not need DECIMAL).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from tools.anomalies.config import AnomalyConfig
from tools.query import Dimension, from_clause, literal, weighted

__all__ = [
    "BASELINE_INFLATION",
    "KEY_SEP",
    "NONE_LABEL",
    "calendar_sql",
    "detection_sql",
    "median_sql",
    "raw_series_sql",
    "scored_sql",
    "series_key_sql",
]

KEY_SEP = "\x1f"
NONE_LABEL = "(none)"
BASELINE_INFLATION = 1.2
"""The noise term of the spread is multiplied by this: the expected value is itself a median of
a few noisy days (variance ≈ 0.3–0.4 σ²), so actual − expected varies ~1.15–1.2 × σ."""


def _day(value: date) -> str:
    return f"CAST({literal(value.isoformat())} AS DATE)"


def _ts(value: date) -> str:
    return f"CAST({literal(value.isoformat())} AS TIMESTAMP)"


def calendar_sql(since: date, until: date) -> str:
    """Every day in [since, until] as rows `d` (a literal list: portable, and only days long)."""
    days = ", ".join(
        f"({_day(since + timedelta(days=i))})" for i in range((until - since).days + 1)
    )
    return f"SELECT d FROM (VALUES {days}) AS cal(d)"


def series_key_sql(dims: Sequence[Dimension]) -> str:
    """The series key: the dimension values (missing → `(none)`) joined by U+001F."""
    if not dims:
        return "''"
    parts = [f"coalesce(CAST({d.sql} AS VARCHAR), {literal(NONE_LABEL)})" for d in dims]
    return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"


def raw_series_sql(
    family: int,
    dims: Sequence[Dimension],
    cost: str,
    since: date,
    until: date,
    *,
    top: int | None = None,
    where: str = "1 = 1",
    extra: Sequence[Dimension] = (),
) -> str:
    """Daily cost of every series of one family in [since, until] (`top`: largest N only).

    `extra` are dimensions only used in `where` (their joins and split weights still apply).
    """
    joined = [*dims, *extra]
    amount = weighted(cost, joined)
    sql = (
        f"SELECT {family} AS s, {series_key_sql(dims)} AS k, CAST(ChargePeriodStart AS DATE) AS d, "
        f"sum(CAST({amount} AS DOUBLE)) AS c FROM {from_clause(joined)} "
        f"WHERE ChargePeriodStart >= {_ts(since)} "
        f"AND ChargePeriodStart < {_ts(until + timedelta(1))} AND {where} GROUP BY 1, 2, 3"
    )
    if top is None:
        return sql
    return (
        f"SELECT s, k, d, c FROM (SELECT *, sum(c) OVER (PARTITION BY k) AS tot FROM ({sql}) AS a) "
        f"AS b QUALIFY dense_rank() OVER (ORDER BY tot DESC, k) <= {int(top)}"
    )


def _rank(cols: Sequence[str], i: int) -> str:
    terms = []
    for j, other in enumerate(cols):
        if j == i:
            continue
        op = "<=" if j < i else "<"
        terms.append(f"CAST(coalesce({other} {op} {cols[i]}, FALSE) AS INTEGER)")
    return " + ".join(terms) or "0"


def median_sql(cols: Sequence[str]) -> str:
    """The median of a few columns, NULLs ignored, with scalar operations only.

    Each value's rank is counted by comparisons (ties broken by position), so the median of
    K same-weekday lags costs K² comparisons per row — far cheaper than a list or a framed
    holistic window for the small K used here.
    """
    if len(cols) == 1:
        return cols[0]
    count = " + ".join(f"CAST({c} IS NOT NULL AS INTEGER)" for c in cols)

    def pick(target: str) -> str:
        cases = [
            f"CASE WHEN {c} IS NOT NULL AND ({_rank(cols, i)}) = {target} THEN {c} END"
            for i, c in enumerate(cols)
        ]
        return f"greatest({', '.join(cases)})"

    lo, hi = f"(({count}) - 1) // 2", f"({count}) // 2"
    return f"(({pick(lo)} + {pick(hi)}) / 2.0)"


def _median_m_dow(weeks: int) -> str:
    cols = [f"w{i}" for i in range(1, weeks + 1)]
    general = median_sql(cols)
    if weeks > 4 or weeks == 1:
        return general
    total, hi, lo = " + ".join(cols), f"greatest({', '.join(cols)})", f"least({', '.join(cols)})"
    fast = {2: f"({total}) / 2.0", 3: f"{total} - {hi} - {lo}", 4: f"({total} - {hi} - {lo}) / 2.0"}
    complete = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    return f"CASE WHEN {complete} THEN {fast[weeks]} ELSE {general} END"


def scored_sql(raw: str, cfg: AnomalyConfig, score_from: date, until: date) -> str:
    """Expected cost and spread of every series day in [score_from, until].

    `raw` must hold the days from `score_from - cfg.history_days()` on. Defines `series`
    (s, k → integer sid, first non-zero day f) and `scored` (sid, d, c, age — days since the
    series' first non-zero cost —, expected, spread). Days without rows are filled with 0 only
    for the series that have gaps, so the common dense case costs no extra join.
    """
    load_from = score_from - timedelta(days=cfg.history_days())
    weeks = cfg.seasonal_weeks
    lags = ", ".join(f"lag(c, {7 * i}) OVER w AS w{i}" for i in range(1, weeks + 1))
    ref_from = score_from - timedelta(days=cfg.reference_days)
    w = cfg.seasonal_weight
    floor_pct = cfg.spread_floor_percent / 100
    sigma = f"({BASELINE_INFLATION * 1.4826 / math.sqrt(2)!r} * v.wmad)"
    recent = (
        "CASE WHEN v.lm > 0 AND p.pm IS NOT NULL THEN e.m_recent * p.pm / v.lm "
        "WHEN p.pm IS NOT NULL THEN p.pm ELSE e.m_recent END"
    )
    end = _day(until)
    return f"""
raw AS ({raw}),
series AS (SELECT s, k, row_number() OVER (ORDER BY s, k) AS sid, f,
           (n <> datediff('day', d0, {end}) + 1 OR d0 <> f) AS gapped
           FROM (SELECT s, k, min(d) FILTER (WHERE c <> 0) AS f, min(d) AS d0, count(*) AS n
                 FROM raw GROUP BY s, k) AS g WHERE f IS NOT NULL),
cal AS ({calendar_sql(load_from, until)}),
present AS (SELECT x.sid, r.d, r.c, x.f FROM raw AS r JOIN series AS x ON x.s = r.s AND x.k = r.k
            WHERE r.d >= x.f),
gaps AS (SELECT p.sid, p.d FROM present AS p JOIN series AS x ON x.sid = p.sid WHERE x.gapped),
missing AS (SELECT x.sid, cal.d, 0.0 AS c, x.f FROM series AS x JOIN cal ON cal.d >= x.f
            WHERE x.gapped AND NOT EXISTS
            (SELECT 1 FROM gaps AS g WHERE g.sid = x.sid AND g.d = cal.d)),
dense AS (SELECT sid, d, c, datediff('day', f, d) AS age FROM present
          UNION ALL SELECT sid, d, c, datediff('day', f, d) AS age FROM missing),
lagged AS (SELECT sid, d, c, age, {lags},
           median(c) OVER (PARTITION BY sid ORDER BY d
                           ROWS BETWEEN {cfg.recent_days} PRECEDING AND 1 PRECEDING) AS m_recent
           FROM dense WINDOW w AS (PARTITION BY sid ORDER BY d)),
ref AS (SELECT sid, isodow(d) AS dow, c, c - w1 AS wd FROM lagged
        WHERE d >= {_day(ref_from)} AND d < {_day(score_from)}),
prof AS (SELECT sid, dow, median(c) AS pm FROM ref GROUP BY sid, dow),
refm AS (SELECT sid, median(wd) AS wmed FROM ref GROUP BY sid),
lvl AS (SELECT r.sid, median(r.c) AS lm, median(abs(r.wd - m.wmed)) AS wmad
        FROM ref AS r JOIN refm AS m ON m.sid = r.sid GROUP BY r.sid),
est AS (SELECT sid, d, c, age, m_recent, {_median_m_dow(weeks)} AS m_dow FROM lagged
        WHERE d >= {_day(score_from)}),
blend AS (SELECT e.sid, e.d, e.c, e.age, v.lm, {sigma} AS sigma,
          coalesce({w!r} * e.m_dow + {1 - w!r} * ({recent}), e.m_dow, {recent}, 0.0) AS expected
          FROM est AS e
          LEFT JOIN prof AS p ON p.sid = e.sid AND p.dow = isodow(e.d)
          LEFT JOIN lvl AS v ON v.sid = e.sid),
scored AS (SELECT sid, d, c, age, expected,
           greatest(CASE WHEN lm > 0 THEN sigma * abs(expected) / lm ELSE sigma END,
                    {floor_pct!r} * abs(expected), {float(cfg.spread_floor)!r}) AS spread
           FROM blend)"""


def _overrides_sql(overrides: Mapping[tuple[int, str], float]) -> str:
    if not overrides:
        return "SELECT CAST(NULL AS INTEGER) AS s, CAST(NULL AS VARCHAR) AS k, 0.0 AS thr LIMIT 0"
    rows = ", ".join(
        f"({int(s)}, {literal(k)}, {float(t)!r})" for (s, k), t in sorted(overrides.items())
    )
    return f"SELECT * FROM (VALUES {rows}) AS o(s, k, thr)"


def detection_sql(
    raw: str,
    cfg: AnomalyConfig,
    since: date,
    until: date,
    overrides: Mapping[tuple[int, str], float] | None = None,
) -> str:
    """Anomalous episodes (runs of flagged days) that touch [since, until].

    Days are scored from `since - (new_normal_days + merge_gap_days)` so an episode already
    running at `since` keeps its true start. One row per episode: s, k, direction, start, last,
    flagged days, expected/actual/impact over its first `new_normal_days` flagged days, peak
    |score|, the threshold applied and the mean daily actual (its level).
    """
    score_from = since - timedelta(days=cfg.new_normal_days + cfg.merge_gap_days)
    pct = cfg.min_percent / 100
    impact = float(cfg.min_impact)
    up = f"z >= thr AND c - expected >= {impact!r} AND c - expected >= {pct!r} * abs(expected)"
    down = f"z <= -thr AND expected - c >= {impact!r} AND expected - c >= {pct!r} * abs(expected)"
    direction = f"CASE WHEN {up} THEN 'up' " + (
        f"WHEN {down} THEN 'down' " if cfg.detect_drops else ""
    )
    gap = cfg.merge_gap_days + 1
    n = cfg.new_normal_days
    return f"""WITH {scored_sql(raw, cfg, score_from, until)},
thresholds AS ({_overrides_sql(overrides or {})}),
thr AS (SELECT x.sid, t.thr FROM series AS x JOIN thresholds AS t ON t.s = x.s AND t.k = x.k),
z AS (SELECT x.*, (c - expected) / spread AS z, coalesce(t.thr, {cfg.threshold!r}) AS thr
      FROM scored AS x LEFT JOIN thr AS t ON t.sid = x.sid
      WHERE age >= {cfg.min_history_days}),
flags AS (SELECT *, {direction}END AS dir FROM z),
hits AS (SELECT * FROM flags WHERE dir IS NOT NULL),
breaks AS (SELECT *, CASE WHEN datediff('day', lag(d) OVER (PARTITION BY sid, dir ORDER BY d), d)
                  <= {gap} THEN 0 ELSE 1 END AS brk FROM hits),
runs AS (SELECT *, sum(brk) OVER (PARTITION BY sid, dir ORDER BY d ROWS UNBOUNDED PRECEDING) AS e
         FROM breaks),
numbered AS (SELECT *, row_number() OVER (PARTITION BY sid, dir, e ORDER BY d) AS rn FROM runs),
episodes AS (SELECT sid, dir, min(d) AS start, max(d) AS last, count(*) AS days,
       list_sort(list(d) FILTER (WHERE rn <= {n})) AS counted,
       sum(expected) FILTER (WHERE rn <= {n}) AS expected,
       sum(c) FILTER (WHERE rn <= {n}) AS actual,
       max(abs(z)) AS score, max(thr) AS thr, avg(c) AS level
       FROM numbered GROUP BY sid, dir, e HAVING max(d) >= {_day(since)})
SELECT x.s, x.k, e.dir, e.start, e.last, e.days, e.counted, e.expected, e.actual, e.score,
       e.thr, e.level
FROM episodes AS e JOIN series AS x USING (sid) ORDER BY e.start, x.s, x.k"""
