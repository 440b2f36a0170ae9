"""The offline planner's detection questions: forecasts, anomalies, budgets, runaway agents.

"What will we spend by the end of the month?" → `spend_forecast`; "any cost anomalies?" →
`anomalies_list`; "are we on budget?" → `budget_status_report`; "is any AI agent burning money?"
→ `runaway_flags`. Answers come from the tool results only, with currency and period on every
figure; text from the data is flattened and quoted, never followed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from agent.offline.figures import money
from agent.offline.intents import PROVIDER_WORDS, ToolPlan

__all__ = ["DETECT_EXAMPLES", "DETECT_RENDERERS", "plan_detect"]

DETECT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Forecast", "what will we spend by the end of this month?"),
    ("Anomalies", "any cost anomalies in the last 30 days?"),
    ("Budgets", "are we on budget?"),
    ("Runaway agents", "is any AI agent burning money right now?"),
)

_FORECAST = re.compile(
    r"\b(?:forecast|projected|projection|will we (?:spend|land|end)|end of (?:the |this )?"
    r"(?:month|quarter)|month[- ]end|quarter[- ]end|on track to spend)\b"
)
_QUARTER = re.compile(r"\bquarter\b")
_ANOMALY = re.compile(r"\b(?:anomal\w*|spik\w*|unusual|unexpected)\b")
_BUDGET = re.compile(r"\bbudgets?\b")
_RUNAWAY = re.compile(
    r"\b(?:runaway|burning (?:money|cash)|agents? (?:going|gone) wild|burn rate)\b"
    r"|\bagents?\b.*\b(?:burn\w*|run(?:ning)? away|overspend\w*)\b"
)
_BY = re.compile(r"\bby (provider|service|team|account)s?\b")
_BY_DIM = {
    "provider": "ProviderName",
    "service": "ServiceName",
    "team": "vtag:team",
    "account": "SubAccountName",
}


def _providers(text: str) -> list[str]:
    found = [v for k, v in PROVIDER_WORDS.items() if re.search(rf"\b{re.escape(k)}\b", text)]
    return list(dict.fromkeys(found))


def plan_detect(question: str) -> ToolPlan | None:
    """A tool call for a detection question, or None when it is not one."""
    text = question.lower()
    if _RUNAWAY.search(text):
        return ToolPlan("runaway_flags", {"status": "open"})
    if _BUDGET.search(text):
        return ToolPlan("budget_status_report", {})
    if _ANOMALY.search(text):
        return ToolPlan("anomalies_list", {"top": 40})
    if _FORECAST.search(text):
        args: dict[str, Any] = {"horizon": "quarter" if _QUARTER.search(text) else "month"}
        by = _BY.search(text)
        if by:
            args["by"] = _BY_DIM[by[1]]
        providers = _providers(text)
        if providers:
            args["filters"] = ["ProviderName=" + ",".join(providers)]
        return ToolPlan("spend_forecast", args)
    return None


def _text(value: Any, limit: int = 100) -> str:
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _forecast(data: Mapping[str, Any], _default: str | None) -> str:
    cur, total = data["currency"], data["total"]
    scope = (
        "; ".join(
            f"{f['dimension']}{'!=' if f.get('negate') else '='}{','.join(f['values'])}"
            for f in data.get("filters", [])
        )
        or "all spend"
    )
    band = next((i for i in total["intervals"] if i["level"] == 80), None)
    lines = [
        f"{data['horizon'].title()}-end forecast, {data['period_start']}..{data['period_end']} "
        f"(as of {data['as_of']}, {data['metric']} cost, {cur}; scope {scope}): "
        f"{money(total['forecast_total'], cur)} = {money(total['actual_to_date'], cur)} so far "
        f"+ {money(total['forecast_remaining'], cur)} for the {data['days_remaining']} days left"
        + (
            f"; 80% interval {money(band['lower'], cur)}..{money(band['upper'], cur)}."
            if band
            else "."
        )
    ]
    for g in data.get("groups", [])[:8]:
        label = ", ".join(_text(v, 40) for v in g["dimensions"].values())
        lines.append(f"- {label}: {money(g['forecast_total'], cur)}")
    lines.append(f"Method: {_text(data['method'], 120)}.")
    return "\n".join(lines)


def _anomalies(data: Mapping[str, Any], _default: str | None) -> str:
    """One line per incident (the same event seen in several series), most specific series."""
    cur = data["currency"]
    head = f"Cost anomalies {data['since']}..{data['until']} ({data['metric']} cost, {cur})"
    incidents: dict[str, list[Mapping[str, Any]]] = {}
    for a in data["anomalies"]:
        incidents.setdefault(str(a.get("incident") or a["id"]), []).append(a)
    if not incidents:
        return f"{head}: none."
    ranked = sorted(
        incidents.values(),
        key=lambda xs: (
            all(x["status"] != "open" for x in xs),
            -max(Decimal(x["impact"]) for x in xs),
        ),
    )
    lines = [f"{head}: {len(ranked)} incident(s)."]
    for xs in ranked[:5]:
        a = min(xs, key=lambda x: ("ResourceId" not in x["series"], -Decimal(x["impact"])))
        scope = ", ".join(f"{k}={_text(v, 50)}" for k, v in a["series"].items()) or "total"
        causes = [c[0] for c in a.get("root_cause", {}).values() if c and c[0].get("share")]
        why = "; ".join(f"{c['dimension']}={_text(c['value'], 50)}" for c in causes[:2])
        lines.append(
            f"- [{a['status']}] {scope} on {a['start_day']}: {money(a['actual'], cur)} vs "
            f"{money(a['expected'], cur)} expected (impact {money(a['impact'], cur)})"
            + (f"; root cause {why}" if why else "")
            + f"; owner {_text(a.get('owner') or 'unknown', 40)}"
            + (f"; seen in {len(xs)} series" if len(xs) > 1 else "")
        )
    return "\n".join(lines)


def _budgets(data: Mapping[str, Any], _default: str | None) -> str:
    lines = []
    for b in data["budgets"]:
        cur = b["currency"]
        crossed = [t for t in b["thresholds"] if t["crossed"]]
        state = (
            "crossed " + ", ".join(f"{t['on']} ≥ {t['percent']}%" for t in crossed)
            if crossed
            else "within all thresholds"
        )
        lines.append(
            f"- {_text(b['name'], 60)} ({b['period_start']}..{b['period_end']}, as of "
            f"{b['as_of']}): {money(b['actual'], cur)} spent of {money(b['amount'], cur)} "
            f"({b['actual_percent']}%), forecast {money(b['forecast'], cur)} "
            f"({b['forecast_percent']}%); {state}."
        )
    return "Budgets:\n" + "\n".join(lines) if lines else "No budgets are defined."


def _runaway(data: Mapping[str, Any], _default: str | None) -> str:
    flags = data["flags"]
    if not flags:
        return "No AI agent is flagged as running away (open flags from the usage-events stream)."
    lines = ["Runaway AI agents (open flags from the usage-events stream):"]
    for f in flags:
        ev = f.get("evidence", {})
        rate = ev.get("window_rate_usd_per_hour") or ev.get("task_cost_usd")
        figure = f", USD {Decimal(str(rate)):,.2f}" if rate is not None else ""
        lines.append(
            f"- {_text(f['agent_id'], 60)} ({f['rule']}{figure}), opened {f['opened_at']}; "
            f"team {_text(f.get('team') or 'unknown', 40)}"
        )
    return "\n".join(lines)


DETECT_RENDERERS: dict[str, Callable[[Mapping[str, Any], str | None], str]] = {
    "spend_forecast": _forecast,
    "anomalies_list": _anomalies,
    "budget_status_report": _budgets,
    "runaway_flags": _runaway,
}
