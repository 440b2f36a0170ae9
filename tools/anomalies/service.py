"""Cost anomaly detection with root cause, feedback and mute windows.

**Series.** Daily cost (the `metric`, in the reporting currency) of every series family in
`anomalies.series`; by default: the total, ProviderName × ServiceName, SubAccountName,
`vtag:team` when a `team` virtual tag is defined (shared costs split by their shares), and the
`top_resources` largest ResourceIds. A series exists from its first non-zero day; days without
rows after that count as 0 (a stopped resource is a drop, not a gap).

**Baseline**, per series and day *t*, from days before *t* only, all inside the warehouse
(`tools.anomalies.sql`, one statement for every series):

* `m_dow` — median of the same weekday over the previous `seasonal_weeks` weeks (lags 7, 14, …);
* `recent` — median of the trailing `recent_days` days × the weekday factor `p(dow) / m_ref`,
  where `p(dow)` is that weekday's median and `m_ref` the median of all days in the
  `reference_days` before the scored window (a factor needs a non-zero reference level; without
  one `recent` is `p(dow)`, which keeps weekly batch jobs expected);
* expected = `seasonal_weight` × m_dow + (1 − `seasonal_weight`) × recent — the first is robust
  and seasonal, the second follows a level change within a week or two;
* spread = 1.2 · σ · |expected| / m_ref, σ = 1.4826 × MAD of the week-over-week differences in
  the reference window / √2 (the noise of one day; weekly differences cancel the seasonality;
  relative so that it scales with the level; × 1.2 because expected is itself a median of a few
  noisy days), floored by `spread_floor_percent` of expected and `spread_floor` (flat series —
  fixed-price instances — have no noise at all);
* score = (actual − expected) / spread.

**A day is anomalous** when score ≥ threshold (≤ −threshold for drops, only with
`detect_drops`), |actual − expected| ≥ `min_impact` and ≥ `min_percent` % of expected, and the
series is at least `min_history_days` old. **Episodes**: anomalous days of one series and
direction with at most `merge_gap_days` normal days between them are one anomaly; its expected,
actual and impact are summed over its first `new_normal_days` flagged days. **New normal**: an
episode that reaches `new_normal_days` flagged days is a level shift: status `new_normal`, and it
is not flagged again; a later episode of the same series and direction within the baselines'
learning time (`history_days()`) at the same level (± `min_percent`) is folded into it.

**Root cause** (`tools.anomalies.rootcause`): every value of ServiceName, SubAccountName,
ResourceId, SkuId, RegionId and vtag:team inside the anomaly's scope gets its own baseline; its
contribution is its actual minus its expected over the same days, ranked, with its share of the
delta. The owner is the series' own team or the team that moved most (not the tag's default).
All anomalies of a family are explained by one statement; an anomaly whose id, window, figures,
settings and cost rows are unchanged since its stored explanation reuses it (no query).

**Lifecycle** (state.db, `tools.anomalies.store`): the id is a hash of series + start day, so a
repeat detection (or one overlapping a stored anomaly of the same series) updates it. Statuses:
`open`; `expected` / `planned` / `false_positive` set by a person and never overwritten or
re-raised; `new_normal`; `resolved` (no anomalous day for `resolve_after_days`); `muted` (its
start day in a mute window whose DIM=VALUE is in its scope, or is the top contributor of DIM
with ≥ `mute_share` of the delta). Each false positive on a series multiplies that series'
threshold by `false_positive_factor` (capped at `max_threshold_factor` ×): the detector learns
that the series is noisier than its history shows, without silencing it.

**Parameters** (`anomalies:` in finops.yaml), default and why:

| key | default | why |
|---|---|---|
| threshold | 4.0 | measured ~1.7 false days per 10,000 at 2–6% noise; +30% on ≤ 6% noise passes |
| min_impact | 20 | currency/day: below this nobody acts, whatever the score |
| min_percent | 20 | a 5% move of a large total is noise to a budget owner |
| min_history_days | 14 | two of each weekday before the seasonal median means anything |
| new_normal_days | 7 | a full weekly cycle at the new level is a decision, not an incident |
| detect_drops | false | drops are usually savings or deletions; turn on to catch broken exports |
| seasonal_weeks | 4 | a month of same-weekday values: robust, still recent |
| recent_days | 14 | two weeks: median ignores a spike of up to 6 days |
| seasonal_weight | 0.5 | equal say for seasonality and the recent level |
| reference_days | 28 | four weeks of noise and weekday profile before the scored days |
| spread_floor_percent | 5 | flat series: a 20% move still scores 4, not infinity |
| spread_floor | 0.01 | avoids division by zero for zero series |
| merge_gap_days | 1 | one quiet day inside an incident does not split it |
| resolve_after_days | 3 | three normal days close an incident |
| false_positive_factor / max_threshold_factor | 1.5 / 3 | learn from feedback, never go deaf |
| mute_share | 0.5 | a muted value must carry most of the move to mute a wider series |
| top_resources | 200 | resource series are the most numerous; the largest carry the money |
| lookback_days | 30 | default listing window |
| metric | billed | matches `finops spend`; `effective` ignores upfront commitment purchases |
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from tools.anomalies.config import AnomalyConfig
from tools.anomalies.detect import Family, checked_cost, detect, settings
from tools.anomalies.models import (
    STATUSES,
    Anomaly,
    AnomalyReport,
    Mute,
    check_status,
)
from tools.anomalies.rootcause import (
    cause_keys,
    explain_family,
    owner_of,
    root_cause_dimensions,
)
from tools.anomalies.store import AnomalyStore
from tools.context import ToolContext
from tools.query import resolve_dimension
from tools.spend.engine import data_range
from tools.vtags.freshness import require_fresh
from warehouse.errors import QueryError

__all__ = [
    "DEFAULT_STATUSES",
    "add_mute",
    "mark",
    "parse_statuses",
    "run_detection",
    "show",
]

DEFAULT_STATUSES = ("open", "new_normal", "resolved")
"""What a listing shows unless asked: everything a person has not dismissed or muted."""


def parse_statuses(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`open,resolved`, `all`, or None (the default set); unknown names fail."""
    if text is None:
        return DEFAULT_STATUSES
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = [i.strip() for i in items if i.strip()]
    if not wanted:
        return DEFAULT_STATUSES
    if any(w.lower() == "all" for w in wanted):
        return STATUSES
    return tuple(dict.fromkeys(check_status(w) for w in wanted))


def _incident(a: Anomaly) -> str:
    parts = [a.start_day.isoformat(), a.direction]
    for dim in ("ServiceName", "ResourceId"):
        top = a.top(dim)
        strong = top is not None and top.share is not None and top.share >= 0.5
        parts.append(a.series.get(dim) or (top.value if top and strong else "(mixed)"))
    return "inc-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


def _muted_by(a: Anomaly, mutes: Sequence[Mute], share: float) -> int | None:
    for m in mutes:
        if not m.from_day <= a.start_day <= m.until_day:
            continue
        top = a.top(m.dimension)
        if a.series.get(m.dimension) == m.value or (
            top is not None and top.value == m.value and float(top.share or 0) >= share
        ):
            return m.id
    return None


def _folds(a: Anomaly, normals: Sequence[Anomaly], cfg: AnomalyConfig) -> bool:
    window = timedelta(days=cfg.history_days())
    for n in normals:
        if n.status != "new_normal" or n.key != a.key or n.direction != a.direction:
            continue
        tolerance = abs(n.level) * Decimal(str(cfg.min_percent)) / 100
        if (
            n.start_day < a.start_day <= n.start_day + window
            and abs(a.level - n.level) <= tolerance
        ):
            return True
    return False


def _window(
    ctx: ToolContext, cfg: AnomalyConfig, since: date | None, until: date | None
) -> tuple[date, date]:
    _, last = data_range(ctx.engine())
    if last is None:
        raise QueryError("the warehouse has no cost data; run `finops demo` or `finops ingest`")
    end = min(until, last) if until else last
    start = since or end - timedelta(days=cfg.lookback_days - 1)
    if start > end:
        raise QueryError(f"--since {start} is after the last day analysed ({end})")
    return start, end


def _thresholds(store: AnomalyStore, cfg: AnomalyConfig) -> dict[str, tuple[dict[str, str], float]]:
    cap = cfg.threshold * cfg.max_threshold_factor
    return {
        key: (series, min(cfg.threshold * cfg.false_positive_factor**n, cap))
        for key, (series, n) in store.false_positives().items()
    }


def _enrich(
    ctx: ToolContext,
    cfg: AnomalyConfig,
    found: list[Anomaly],
    fams: Sequence[Family],
    store: AnomalyStore,
) -> list[str]:
    """Root cause, owner and incident of each anomaly; returns their root-cause keys.

    A stored explanation with the same key (same anomaly, window, settings and data) is reused;
    the others are computed together, one statement per family (`explain_family`).
    """
    if not found:
        return []
    engine = ctx.engine()
    cost = checked_cost(engine, ctx.config, cfg.metric)
    keys = cause_keys(engine, ctx.config, cfg, found, fams, cost)
    stored = store.root_causes((a.key, k) for a, k in zip(found, keys, strict=True))
    todo = [(a, k) for a, k in zip(found, keys, strict=True) if k not in stored]
    if todo and any(d.join for d in root_cause_dimensions(ctx.config, cfg)):
        require_fresh(engine, ctx.config)
    for f in fams:
        mine = [a for a, _ in todo if tuple(a.series) == f.names]
        causes = explain_family(engine, ctx.config, cfg, mine, f, cost) if mine else []
        for a, cause in zip(mine, causes, strict=True):
            a.root_cause = cause
    fresh = {id(a) for a, _ in todo}
    team = ctx.config.virtual_tags.get("team")
    for a, k in zip(found, keys, strict=True):
        if id(a) not in fresh:
            a.root_cause = stored[k]
        owner = owner_of(a)
        a.owner = None if team is not None and owner == team.default else owner
        a.incident = _incident(a)
    return keys


def _settle(
    a: Anomaly, store: AnomalyStore, cfg: AnomalyConfig, mutes: Sequence[Mute], until: date
) -> Anomaly:
    """Give a detection its stored identity and its status before it is saved or shown."""
    stored = store.get(a.id) or store.overlapping(a, cfg.merge_gap_days)
    if stored is not None:
        a.id, a.first_seen, a.last_seen = stored.id, stored.first_seen, stored.last_seen
        a.start_day = min(a.start_day, stored.start_day)
    a.muted_by = _muted_by(a, mutes, cfg.mute_share)
    if a.muted_by is not None:
        a.status = "muted"
    elif a.status == "open" and (until - a.end_day).days >= cfg.resolve_after_days:
        a.status = "resolved"
    if stored is not None and stored.status in ("expected", "planned", "false_positive"):
        a.status = stored.status
    return a


def run_detection(
    ctx: ToolContext,
    *,
    since: date | None = None,
    until: date | None = None,
    statuses: Sequence[str] | None = None,
    persist: bool = True,
    cfg: AnomalyConfig | None = None,
) -> AnomalyReport:
    """Detect anomalies touching [since, until], explain them, reconcile them with state.db.

    `persist=False` (the agent's read tool) computes the same answer without writing; `cfg`
    overrides the config's `anomalies:` section. Returns the anomalies with the wanted statuses
    (default: open, new_normal, resolved), newest first.
    Example: `run_detection(ctx, since=date(2026, 11, 1))`.
    """
    started = time.perf_counter()
    cfg = cfg or settings(ctx.config)
    wanted = parse_statuses(statuses)
    since, until = _window(ctx, cfg, since, until)
    store = AnomalyStore(ctx.store)
    found, fams, sql = detect(
        ctx.engine(), ctx.config, cfg, since=since, until=until, thresholds=_thresholds(store, cfg)
    )
    normals = store.new_normals(since - timedelta(days=cfg.history_days()))
    kept: list[Anomaly] = []
    for a in sorted(found, key=lambda x: (x.start_day, x.id)):
        if _folds(a, [*normals, *kept], cfg):
            continue
        kept.append(a)
    keys = _enrich(ctx, cfg, kept, fams, store)
    mutes = store.mutes()
    settled = [_settle(a, store, cfg, mutes, until) for a in kept]
    counts = {"new": 0, "updated": 0}
    if persist:
        now = ctx.clock()
        seen = {a.id for a in settled}
        with ctx.store.transaction() as conn:
            for a, key in zip(settled, keys, strict=True):
                counts[store.save(conn, a, now, key)] += 1
            for old in store.listing(since=since, until=until, statuses=["open"]):
                if old.id not in seen:
                    conn.execute("UPDATE anomalies SET status = 'resolved' WHERE id = ?", (old.id,))
        shown = store.listing(since=since, until=until, statuses=wanted)
    else:
        shown = [a for a in settled if a.status in wanted]
        shown.sort(key=lambda a: (a.start_day, a.impact), reverse=True)
    suppressed: dict[str, int] = {}
    for a in settled:
        if a.status not in wanted:
            suppressed[a.status] = suppressed.get(a.status, 0) + 1
    return AnomalyReport(
        currency=ctx.config.reporting_currency,
        metric=cfg.metric,
        since=since,
        until=until,
        families=[f.spec.label() for f in fams],
        statuses=list(wanted),
        anomalies=shown,
        detected=len(found),
        new=counts["new"],
        updated=counts["updated"],
        folded=len(found) - len(kept),
        suppressed=suppressed,
        seconds=round(time.perf_counter() - started, 3),
        persisted=persist,
        sql=sql,
    )


def show(ctx: ToolContext, anomaly_id: str) -> Anomaly:
    """One stored anomaly with its root cause and feedback history."""
    return AnomalyStore(ctx.store).require(anomaly_id)


def mark(
    ctx: ToolContext, anomaly_id: str, status: str, *, by: str, reason: str | None = None
) -> Anomaly:
    """A person's verdict (expected, planned, false-positive, or open to undo); audited.

    Example: `mark(ctx, "an-1a2b3c4d5e6f", "planned", by="alice", reason="load test")`.
    """
    store = AnomalyStore(ctx.store)
    with ctx.store.transaction():
        result = store.mark(anomaly_id, status, by, reason, ctx.clock())
        ctx.audit.append(
            "anomaly_feedback",
            by.strip(),
            {"anomaly_id": result.id, "status": result.status, "reason": reason},
        )
    return result


def add_mute(
    ctx: ToolContext,
    filter_text: str,
    *,
    until: date,
    by: str,
    since: date | None = None,
    reason: str | None = None,
) -> Mute:
    """Mute anomalies starting in [since (default today), until] whose scope has DIM=VALUE.

    Example: `add_mute(ctx, "ResourceId=i-0abc", until=date(2026, 12, 5), by="bob")`.
    """
    dim, sep, value = filter_text.partition("=")
    if not sep or not dim.strip() or not value.strip() or "!" in dim:
        raise QueryError(f"invalid --filter {filter_text!r}; expected DIM=VALUE")
    dimension = resolve_dimension(dim.strip(), ctx.config.virtual_tags).name
    store = AnomalyStore(ctx.store)
    with ctx.store.transaction():
        mute = store.add_mute(
            dimension, value.strip(), since or ctx.today(), until, by, reason, ctx.clock()
        )
        ctx.audit.append("anomaly_mute", by.strip(), mute.model_dump(mode="json"))
    return mute
