"""The sweep: ingest what is new, re-allocate, refresh forecasts, detect, evaluate budgets, act
once per finding, and write a digest. It needs no LLM.

Steps, each recorded with its duration and outcome (a failing step is reported, the rest run):
1. ingest the configured `sweep.sources` (paths, folders, `s3://` prefixes, provider APIs);
2. recompute virtual-tag allocation when definitions or data changed;
3. refresh the stored period-end forecasts, and the vocabulary catalog (`tools.vocab`);
4. detect cost anomalies over [since, until] and alert the owners of new open ones (once each);
5. evaluate budgets and fire crossed thresholds (once per budget, period and threshold);
6. list idle, rightsizing and commitment findings from the inventory and the bills, and per
   `sweep.act` policy propose the changes and tickets for them (approval-gated; see
   `tools.sweep.act`);
7. measure realized savings of executed actions against later bills (`tools.savings.service`).

`since` defaults to the day after the last finished sweep's `until` (a first sweep covers the last
`default_days` of data), so a scheduled sweep picks up where the previous one ended. One sweep runs
at a time per state store: a second one is refused while the first holds the lease.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.anomalies.models import Anomaly
from tools.anomalies.service import run_detection
from tools.budgets.service import budget_status, fire
from tools.catalog import registry as full_registry
from tools.context import ToolContext
from tools.forecast.store import refresh_after_ingest
from tools.notify.models import Alert, Figure
from tools.notify.service import send
from tools.optimize.engine import recommend
from tools.optimize.models import Finding as SavingFinding
from tools.registry import ToolRegistry
from tools.savings.service import load_savings, refresh_savings
from tools.spend.engine import data_range
from tools.sweep.act import ActOutcome, act_on_findings
from tools.sweep.config import SweepConfig, SweepSource
from tools.vocab.catalog import refresh_after_change, refresh_summary
from tools.vtags.allocate import ensure_allocation
from warehouse.errors import FinopsError, QueryError
from warehouse.format import amount, money
from warehouse.state.store import utc_text

__all__ = ["Finding", "SweepConfig", "SweepResult", "SweepSource", "last_sweeps", "run_sweep"]


class Finding(BaseModel):
    """Something the sweep found, with the evidence to check it."""

    id: str
    kind: str
    scope: dict[str, str]
    period: str
    expected: Decimal | None
    actual: Decimal | None
    impact: Decimal | None
    currency: str
    owner: str | None
    status: str
    evidence: list[str]
    incident: str | None = None


class Step(BaseModel):
    name: str
    ok: bool
    seconds: float
    detail: str


class SweepResult(BaseModel):
    id: str
    since: date
    until: date
    currency: str
    steps: list[Step]
    findings: list[Finding]
    proposals: list[str]
    actions: list[ActOutcome] = []
    alerts: list[dict[str, Any]]
    digest: str
    summary: str | None = None
    summary_model: str | None = None


def _window(ctx: ToolContext, cfg: SweepConfig, since: date | None) -> tuple[date, date]:
    first, last = data_range(ctx.engine())
    if first is None or last is None:
        raise QueryError("the warehouse has no cost data; ingest bills first")
    if since is None:
        row = ctx.store.query(
            "SELECT until FROM sweeps WHERE status = 'done' ORDER BY finished_at DESC LIMIT 1"
        )
        since = (
            date.fromisoformat(row[0]["until"]) + timedelta(days=1)
            if row
            else last - timedelta(days=cfg.default_days - 1)
        )
    since = max(since, first)
    return min(since, last), last


def _lock(ctx: ToolContext, cfg: SweepConfig, sweep_id: str, since: date, until: date) -> None:
    now = ctx.clock()
    stale = utc_text(now - timedelta(minutes=cfg.lease_minutes))
    with ctx.store.transaction() as conn:
        running = conn.execute(
            "SELECT id, started_at FROM sweeps WHERE status = 'running' AND started_at > ?",
            (stale,),
        ).fetchone()
        if running:
            raise QueryError(
                f"sweep {running[0]} is already running (started {running[1]} UTC); "
                "one sweep at a time"
            )
        conn.execute(
            "UPDATE sweeps SET status = 'abandoned' WHERE status = 'running' AND started_at <= ?",
            (stale,),
        )
        conn.execute(
            "INSERT INTO sweeps (id, started_at, since, until, status, digest) "
            "VALUES (?, ?, ?, ?, 'running', '{}')",
            (sweep_id, utc_text(now), since.isoformat(), until.isoformat()),
        )


def _finish(ctx: ToolContext, sweep_id: str, status: str, result: dict[str, Any]) -> None:
    with ctx.store.transaction() as conn:
        conn.execute(
            "UPDATE sweeps SET status = ?, finished_at = ?, digest = ? WHERE id = ?",
            (status, utc_text(ctx.clock()), json.dumps(result, default=str), sweep_id),
        )


def _anomaly_finding(a: Anomaly) -> Finding:
    evidence = [
        f"{c.dimension}={c.value}: {money(c.actual, a.currency)} vs {amount(c.expected)} expected "
        f"({amount(c.delta, signed=True)})"
        for dim in a.root_cause.values()
        for c in dim[:1]
    ]
    return Finding(
        id=a.id,
        kind="anomaly",
        scope=a.series,
        period=f"{a.start_day}..{a.end_day}",
        expected=a.expected,
        actual=a.actual,
        impact=a.impact,
        currency=a.currency,
        owner=a.owner,
        status=a.status,
        evidence=[f"score {a.score:.1f} (threshold {a.threshold:.1f})", *evidence],
        incident=a.incident,
    )


def _anomaly_alert(a: Anomaly, f: Finding, cfg: SweepConfig) -> Alert:
    pct = a.impact_percent or Decimal(0)
    return Alert(
        id=a.id,
        kind="anomaly",
        severity="critical" if pct >= cfg.anomaly_severity_percent else "warning",
        title=f"Cost anomaly: {a.scope} {money(a.actual, a.currency)} vs {amount(a.expected)} "
        f"expected ({a.start_day})",
        text=f"Impact {money(a.impact, a.currency)} ({pct}% over expected), {a.days} day(s).",
        owner=a.owner,
        scope=a.series,
        figures=[
            Figure(label="Actual", amount=a.actual, currency=a.currency, period=f.period),
            Figure(label="Expected", amount=a.expected, currency=a.currency, period=f.period),
            Figure(label="Impact", amount=a.impact, currency=a.currency, period=f.period),
        ],
        evidence=f.evidence[:10],
    )


class _Steps:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def run(self, name: str, fn: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail, ok = fn(), True
        except FinopsError as exc:
            detail, ok = f"failed: {exc}", False
        self.steps.append(
            Step(name=name, ok=ok, seconds=round(time.perf_counter() - started, 3), detail=detail)
        )


def run_sweep(
    ctx: ToolContext,
    cfg: SweepConfig,
    *,
    since: date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    environ: dict[str, str] | None = None,
    registry: ToolRegistry | None = None,
) -> SweepResult:
    """One sweep over [since, last charge day]; see the module docstring."""
    steps = _Steps()
    steps.run("ingest", lambda: _ingest(ctx, cfg))
    start, until = _window(ctx, cfg, since)
    sweep_id = "sw-" + uuid.uuid4().hex[:12]
    _lock(ctx, cfg, sweep_id, start, until)
    findings: list[Finding] = []
    alerts: list[dict[str, Any]] = []
    proposals: list[str] = []
    actions: list[ActOutcome] = []
    try:
        if ctx.config.virtual_tags:
            steps.run("allocate", lambda: _allocate(ctx))
        steps.run("forecast", lambda: _forecast(ctx))
        steps.run("vocabulary", lambda: _vocabulary(ctx))

        def detect() -> str:
            report = run_detection(
                ctx, since=start, until=until, statuses=["open", "new_normal", "resolved"]
            )
            for a in report.anomalies:
                f = _anomaly_finding(a)
                findings.append(f)
                if cfg.alert_anomalies and a.status == "open":
                    sent = send(_anomaly_alert(a, f, cfg), ctx.config.notify, ctx.store,
                                clock=ctx.clock, sleep=sleep, environ=environ)  # fmt: skip
                    delivered = [r.channel for r in sent.results if r.status == "sent"]
                    alerts.append({"id": a.id, "sent": delivered})
            return f"{len(report.anomalies)} anomalies ({report.new} new, {report.updated} updated)"

        steps.run("anomalies", detect)

        def budgets() -> str:
            statuses = [
                budget_status(ctx.engine(), ctx.config, b, today=ctx.today())
                for b in ctx.config.budgets
                if b.enabled
            ]
            fired = fire(ctx, statuses, sleep=sleep, environ=environ)
            for s in statuses:
                for t in s.thresholds:
                    if t.crossed:
                        findings.append(
                            Finding(
                                id=f"budget:{s.name}:{s.period_start}:{t.key}",
                                kind="budget",
                                scope={"budget": s.name, "filters": "; ".join(s.scope)},
                                period=f"{s.period_start}..{s.period_end}",
                                expected=t.limit,
                                actual=t.value,
                                impact=t.value - t.limit,
                                currency=s.currency,
                                owner=s.owner,
                                status="crossed",
                                evidence=[f"{t.on} ≥ {t.percent}% as of {s.as_of}", s.method],
                            )
                        )
            proposals.extend(
                str(f.detail["proposal_id"]) for f in fired if "proposal_id" in f.detail
            )
            new = sum(f.outcome != "already fired this period" for f in fired)
            return f"{len(statuses)} budgets, {new} thresholds fired"

        steps.run("budgets", budgets)

        def optimize() -> str:
            report = recommend(ctx)
            findings.extend(_saving_finding(o) for o in report.findings)
            saving = sum((o.saving.monthly or Decimal(0) for o in report.findings), Decimal(0))
            acted = act_on_findings(ctx, report.findings, cfg.act, registry or full_registry())
            for a in acted:
                proposals.extend(p for p in (a.proposal_id, a.ticket_proposal_id) if p)
            actions.extend(acted)
            text = f"{len(report.findings)} findings, {amount(saving)} a month"
            if cfg.act:
                made = sum(a.proposal_id is not None for a in acted)
                tickets = sum(a.ticket_proposal_id is not None for a in acted)
                text += f"; {made} proposal(s), {tickets} ticket proposal(s) per sweep.act"
            return text

        steps.run("optimize", optimize)

        def savings() -> str:
            notes = refresh_savings(ctx)
            rows = load_savings(ctx)
            measured = sum(r.status == "measured" for r in rows)
            return f"{len(rows)} executed change(s) tracked, {measured} measured" + (
                f"; {'; '.join(notes)}" if notes else ""
            )

        steps.run("savings", savings)
    except Exception:
        _finish(ctx, sweep_id, "failed", {"steps": [s.model_dump() for s in steps.steps]})
        raise
    digest = _digest(ctx.config.reporting_currency, start, until, steps.steps, findings, proposals)
    result = SweepResult(
        id=sweep_id,
        since=start,
        until=until,
        currency=ctx.config.reporting_currency,
        steps=steps.steps,
        findings=findings,
        proposals=proposals,
        actions=actions,
        alerts=alerts,
        digest=digest,
    )
    _finish(ctx, sweep_id, "done", result.model_dump(mode="json"))
    ctx.audit.append("sweep", ctx.actor, {"id": sweep_id, "findings": len(findings),
                                          "proposals": proposals})  # fmt: skip
    return result


def _saving_finding(o: SavingFinding) -> Finding:
    pairs = (("ResourceId", o.resource_id), ("ProviderName", o.provider))
    return Finding(
        id=o.id,
        kind=o.kind,
        scope={k: v for k, v in pairs if v},
        period=f"monthly run rate, last {o.cost_days} days of bills",
        expected=None,
        actual=o.monthly_cost,
        impact=o.saving.monthly,
        currency=o.currency,
        owner=o.owner,
        status="recommended",
        evidence=[o.summary, f"rule {o.rule} ({o.source})", o.saving.basis],
    )


def _ingest(ctx: ToolContext, cfg: SweepConfig) -> str:
    if not cfg.sources:
        return "no sources configured (sweep.sources)"
    from warehouse.ingest import resolve_inputs, run_ingest
    from warehouse.ingest.provider_api import pull_provider

    rows = 0
    with tempfile.TemporaryDirectory(prefix="finops-sweep-") as tmp:
        for src in cfg.sources:
            workdir = Path(tmp)
            files = resolve_inputs(src.inputs, workdir) if src.inputs else []
            fmt = src.format
            if src.api:
                files += pull_provider(src.api, days=src.days, config=ctx.config, workdir=workdir)
                fmt = src.api if not src.inputs else fmt
            report = run_ingest(
                ctx.warehouse(), files, config=ctx.config, fmt=fmt, source=src.source
            )
            rows += report.rows
    return f"{rows:,} rows from {len(cfg.sources)} source(s)"


def _allocate(ctx: ToolContext) -> str:
    """The virtual-tag allocation, brought up to date on the engine the queries run on."""
    return "rebuilt" if ensure_allocation(ctx.engine(), ctx.config).rebuilt else "current"


def _forecast(ctx: ToolContext) -> str:
    refreshed = refresh_after_ingest(ctx.warehouse(), ctx.config)
    return "off" if refreshed is None else f"{refreshed.rows} forecast rows as of {refreshed.as_of}"


def _vocabulary(ctx: ToolContext) -> str:
    """The vocabulary catalog, brought up to date after the ingest and allocation steps."""
    result = refresh_after_change(ctx.engine(), ctx.config)
    if result.error:
        raise QueryError(f"vocabulary not refreshed: {result.error}")
    return refresh_summary(result)


def _digest(
    currency: str,
    since: date,
    until: date,
    steps: list[Step],
    findings: list[Finding],
    proposals: list[str],
) -> str:
    lines = [f"FinOps sweep {since}..{until} ({currency}):"]
    failed = [s for s in steps if not s.ok]
    for s in failed:
        lines.append(f"- step {s.name} {s.detail}")
    incidents: dict[str, list[Finding]] = {}
    for f in findings:
        if f.kind == "anomaly":
            incidents.setdefault(f.incident or f.id, []).append(f)
    ranked = sorted(
        incidents.values(),
        key=lambda fs: (all(f.status != "open" for f in fs), -max(f.impact or 0 for f in fs)),
    )
    if ranked:
        still = sum(any(f.status == "open" for f in fs) for fs in ranked)
        lines.append(f"- {len(ranked)} cost anomaly incidents in the window ({still} still open):")
        for fs in ranked[:8]:
            f = min(fs, key=lambda x: ("ResourceId" not in x.scope, -(x.impact or 0)))
            scope = ", ".join(f"{k}={v}" for k, v in f.scope.items()) or "total"
            also = f" (seen in {len(fs)} series)" if len(fs) > 1 else ""
            lines.append(
                f"  - [{f.status}] {scope} {f.period}: {money(f.actual, currency)} vs "
                f"{amount(f.expected)} expected, impact {money(f.impact, currency)}; "
                f"owner {f.owner or 'unknown'}{also}"
            )
    budgets = [f for f in findings if f.kind == "budget"]
    for f in budgets:
        lines.append(
            f"- budget {f.scope['budget']} ({f.period}): {f.evidence[0]}: "
            f"{money(f.actual, currency)} vs limit {money(f.expected, currency)}"
        )
    savings = [f for f in findings if f.kind in ("idle", "rightsize", "commitment")]
    if savings:
        total = sum((f.impact or Decimal(0) for f in savings), Decimal(0))
        lines.append(
            f"- {len(savings)} savings findings, {money(total, currency)} a month; largest:"
        )
        for f in sorted(savings, key=lambda x: -(x.impact or Decimal(0)))[:5]:
            lines.append(f"  - [{f.kind}] {f.evidence[0]}; owner {f.owner or 'unknown'}")
    if proposals:
        lines.append(f"- proposals awaiting approval: {', '.join(proposals)}")
    if len(lines) == 1:
        lines.append("- nothing needs attention")
    return "\n".join(lines)


def last_sweeps(ctx: ToolContext, limit: int = 10) -> list[dict[str, Any]]:
    """Recent sweeps, newest first."""
    rows = ctx.store.query(
        "SELECT id, started_at, finished_at, since, until, status FROM sweeps "
        "ORDER BY started_at DESC LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]
