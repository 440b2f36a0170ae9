"""Answers to structured spend questions: how the question was understood, then the figures.

Why: an answer restates how it understood the question — measure, scope, period, grouping —
and which words became which filter ("EC2" -> ServiceName = Amazon Elastic Compute Cloud), so a
reader can check it before forwarding the figure. When a phrase could not be applied the answer
says so first (`Not answered:`), with the closest known values and their spend, instead of a
broader figure. Everything quoted from data is cleaned (`agent.offline.figures.clean`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.offline.figures import clean, money, rate, row_label
from warehouse.format import percent

if TYPE_CHECKING:
    from agent.offline.understand import Mention, Understanding

__all__ = ["NOT_ANSWERED", "UNDERSTOOD", "clarification_answer", "spend_query_answer"]

NOT_ANSWERED = "Not answered:"
UNDERSTOOD = "Understood:"
METRIC_LABELS = {
    "billed": "billed cost",
    "effective": "effective (amortized) cost",
    "list": "list cost",
    "contracted": "contracted cost",
}


def clarification_answer(u: Understanding, currency: str) -> str:
    """`Not answered: …` with each phrase that could not be applied and the closest values."""
    lines = []
    for c in u.clarifications:
        line = f"- {clean(c.message)}"
        if c.closest:
            near = "; ".join(
                f"{clean(m.entry.value)} ({clean(m.entry.dimension)}, "
                f"{money(m.entry.cost, currency)}, {m.entry.first_day}..{m.entry.last_day})"
                for m in c.closest
            )
            line += f". Closest: {near}"
        lines.append(line + ".")
    head = f"{NOT_ANSWERED} part of the question could not be applied, so no figure is given"
    applied = _mentions(u.mentions)
    tail = [f"Understood so far: {applied}."] if applied else []
    tail.append("Ask again with a known value (see `finops vocab --search TEXT`).")
    return "\n".join([head + ":", *lines, *tail])


def _mention(m: Mention) -> str:
    values = ", ".join(clean(v) for v in m.values)
    op = "!=" if m.exclude else "="
    source = (
        "" if clean(m.phrase).casefold() == values.casefold() else f' (from "{clean(m.phrase)}"'
    )
    if source:
        source += f", {m.how})"
    return f"{clean(m.dimension)} {op} {values}{source}"


def _mentions(mentions: Sequence[Mention]) -> str:
    return "; ".join(_mention(m) for m in mentions)


def _scope(data: Mapping[str, Any], u: Understanding | None) -> str:
    if u is not None and u.mentions:
        return _mentions(u.mentions)
    filters = data.get("filters") or []
    if not filters:
        return "all spend"
    return "; ".join(
        f"{clean(f.get('dimension'))} {'!=' if f.get('exclude') else '='} "
        f"{', '.join(clean(v) for v in f.get('values', []))}"
        for f in filters
    )


def _understood(data: Mapping[str, Any], u: Understanding | None) -> str:
    request = data.get("request") or {}
    period = data.get("period") or {}
    label = (u.period_label if u is not None else None) or period.get("label")
    parts = [
        METRIC_LABELS.get(str(data.get("metric")), clean(data.get("metric"))),
        f"scope {_scope(data, u)}",
        f"{clean(label)} ({period.get('since')}..{period.get('until')}, "
        f"data as of {period.get('as_of')})",
    ]
    if data.get("compare_period"):
        cp = data["compare_period"]
        named = u.compare_label if u is not None and u.compare_label else "previous period"
        parts.append(f"compared with {clean(named)} ({cp.get('since')}..{cp.get('until')})")
    by = request.get("by") or []
    if by:
        parts.append("by " + ", ".join(clean(b) for b in by))
    if request.get("grain"):
        parts.append(f"per {clean(request['grain'])}")
    if request.get("top"):
        parts.append(f"top {request['top']}")
    notes = list(u.notes) if u is not None else []
    text = f"{UNDERSTOOD} " + "; ".join(parts) + f"; {clean(data.get('currency'))}."
    if notes:
        text += " Notes: " + "; ".join(clean(n) for n in notes) + "."
    return text


def _label(row: Mapping[str, Any]) -> str:
    return row_label(row, period_sep=" / ")


def _cost_body(data: Mapping[str, Any], cur: str) -> list[str]:
    result = data.get("result") or {}
    rows = result.get("rows") or []
    grouped = bool(result.get("by")) or result.get("grain") not in (None, "total")
    lines = []
    if grouped:
        total = Decimal(str(result.get("total") or 0))
        for r in rows:
            cost = Decimal(str(r.get("cost") or 0))
            pct = f" ({percent(cost / total * 100)})" if total and result.get("by") else ""
            lines.append(f"- {_label(r)}: {money(cost, cur)}{pct}")
        if not rows:
            lines.append("- no spend matched this scope and period")
    lines.append(f"Total: {money(result.get('total'), cur)}.")
    share: Mapping[str, Any] | None = data.get("share")
    if share and share.get("percent") is not None:
        within = share.get("within") or []
        whole = (
            "all spend"
            if not within
            else "; ".join(
                f"{clean(f.get('dimension'))} = {', '.join(clean(v) for v in f.get('values', []))}"
                for f in within
            )
        )
        lines.append(
            f"Share: {percent(Decimal(share['percent']))} of {money(share.get('whole'), cur)} "
            f"({whole})."
        )
    return lines


def _growth_body(data: Mapping[str, Any], cur: str) -> list[str]:
    result = data.get("result") or {}
    now, before = Decimal(str(result["current_total"])), Decimal(str(result["previous_total"]))
    pct = percent((now - before) / before * 100, signed=True) if before else "new"
    lines = [
        f"Total: {money(now, cur)} vs {money(before, cur)} before "
        f"(delta {money(now - before, cur, signed=True)}, {pct})."
    ]
    for r in result.get("rows") or []:
        delta_pct = r.get("delta_pct")
        p = "new" if delta_pct is None else percent(Decimal(str(delta_pct)), signed=True)
        lines.append(
            f"- {_label(r)}: {money(r.get('current'), cur)} vs {money(r.get('previous'), cur)} "
            f"(delta {money(r.get('delta'), cur, signed=True)}, {p})"
        )
    return lines


def _unit_body(data: Mapping[str, Any], cur: str) -> list[str]:
    result = data.get("result") or {}
    per, unit = int(result.get("per") or 1), clean(result.get("unit"))
    rows = result.get("rows") or []
    cost = sum(Decimal(str(r.get("cost") or 0)) for r in rows)
    quantity = sum(Decimal(str(r.get("quantity") or 0)) for r in rows)
    per_text = f"{per:,} {unit}" if per != 1 else unit
    head = rate(cost / quantity * per if quantity else None, cur, places=6)
    lines = [f"Unit cost: {head} per {per_text} ({money(cost, cur)} for {quantity:,.2f} {unit})."]
    if result.get("by"):
        for r in rows:
            lines.append(f"- {_label(r)}: {rate(r.get('unit_cost'), cur, places=6)} per {per_text}")
    return lines


def _no_usage(data: Mapping[str, Any]) -> str | None:
    """A unit cost over no measured usage is not a figure: say so instead of `n/a`."""
    result = data.get("result") or {}
    if data.get("measure") != "unit_cost":
        return None
    quantity = sum(Decimal(str(r.get("quantity") or 0)) for r in result.get("rows") or [])
    if quantity:
        return None
    period = data.get("period") or {}
    return (
        f"{NOT_ANSWERED} no usage measured in {clean(result.get('unit'))} in this scope "
        f"({_scope(data, None)}) for {period.get('since')}..{period.get('until')}, so there is "
        "no unit cost to give; `finops vocab ConsumedUnit` lists the units the bills measure."
    )


def spend_query_answer(data: Mapping[str, Any], u: Understanding | None) -> str:
    """The answer to a `spend_query` result: the understanding line, then the figures."""
    empty = _no_usage(data)
    if empty:
        return empty
    cur = clean(data.get("currency"))
    body = {
        "growth": _growth_body,
        "unit_cost": _unit_body,
    }.get(str(data.get("measure")), _cost_body)(data, cur)
    sql = data.get("sql") or []
    evidence = f"Evidence: {len(sql)} SQL statement(s) over `costs` (see --json)." if sql else ""
    return "\n".join([_understood(data, u), *body, *([evidence] if evidence else [])])
