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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tools.anomalies.config import DEFAULT_ROOT_CAUSE_DIMENSIONS, AnomalyConfig
from tools.anomalies.detect import Family, money
from tools.anomalies.models import Anomaly, Contributor
from tools.anomalies.sql import NONE_LABEL, raw_series_sql, scored_sql
from tools.query import Dimension, Engine, literal, resolve_dimension, transpile
from tools.settings import ToolSettings

__all__ = ["OTHER_LABEL", "explain", "owner_of", "root_cause_dimensions"]

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


def owner_of(anomaly: Anomaly) -> str | None:
    """The team: the series' own `vtag:team`, else the team that moved most in its direction."""
    if "vtag:team" in anomaly.series:
        return anomaly.series["vtag:team"]
    top = anomaly.top("vtag:team")
    if top is None or (top.delta > 0) != (anomaly.direction == "up") or top.delta == 0:
        return None
    return top.value
