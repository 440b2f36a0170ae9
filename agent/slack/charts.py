"""PNG charts for chat answers, where a picture reads better than a table: a trend over time (a
line per series), a breakdown (horizontal bars) and a forecast with its intervals. matplotlib
with the Agg backend (no display).

`chart_png(data)` takes the spend tool result shown in the answer and returns the PNG bytes, or
None when a table says it better (a single total, or one row). `forecast_png(path)` draws a
`spend_forecast` answer: the period's running total (actual, then the forecast line with the 80%
and 95% bands shaded, ending at the interval the answer states) over the daily spend (actual
bars, forecast line); `forecast_title(path)` names scope, period, metric and currency.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tools.forecast.path import ForecastPath
from warehouse.format import amount, money

__all__ = [
    "Chart",
    "chart_for",
    "chart_png",
    "forecast_caption",
    "forecast_data",
    "forecast_png",
    "forecast_title",
]


@dataclass(frozen=True)
class Chart:
    """A PNG to upload to the thread, its title and a caption with the figures it shows."""

    png: bytes
    title: str
    caption: str | None = None


def _label(row: dict[str, Any], by: list[str]) -> str:
    return " / ".join(str(row.get("dimensions", {}).get(d, "")) for d in by) or "total"


def _figure(title: str, currency: str) -> tuple[Any, Any]:
    fig = _new_figure()
    fig.set_size_inches(8, 4.5)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(currency)
    return fig, ax


def _new_figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 6), dpi=100)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _trend(data: dict[str, Any], title: str) -> bytes:
    by = [str(b) for b in data.get("by") or []]
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in data["rows"]:
        series[_label(row, by)].append((str(row["period"]), float(Decimal(str(row["cost"])))))
    fig, ax = _figure(title, str(data["currency"]))
    for name, points in sorted(series.items()):
        points.sort()
        ax.plot([p for p, _ in points], [v for _, v in points], marker="o", label=name)
    if len(series) > 1:
        ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _png(fig)


def _breakdown(data: dict[str, Any], title: str) -> bytes:
    by = [str(b) for b in data.get("by") or []]
    rows = list(reversed(data["rows"][:15]))
    fig, ax = _figure(title, "")
    ax.barh([_label(r, by) for r in rows], [float(Decimal(str(r["cost"]))) for r in rows])
    ax.set_xlabel(str(data["currency"]))
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def chart_png(data: dict[str, Any], title: str) -> bytes | None:
    """A PNG for a trend (rows with a period) or a breakdown of at least two rows; else None."""
    rows = data.get("rows") or []
    if not rows or "cost" not in rows[0]:
        return None
    if rows[0].get("period") and len({r["period"] for r in rows}) > 1:
        return _trend(data, title)
    if data.get("by") and len(rows) > 1:
        return _breakdown(data, title)
    return None


def forecast_title(path: ForecastPath) -> str:
    """E.g. `Month-end forecast · all spend · 2026-11-01..2026-11-30 (as of 2026-11-20) ·
    billed cost, USD`."""
    return (
        f"{path.horizon.title()}-end forecast · {path.scope()} · "
        f"{path.period_start}..{path.period_end} (as of {path.as_of}) · "
        f"{path.metric} cost, {path.currency}"
    )


def _cumulative(ax: Any, path: ForecastPath) -> None:
    """Running total: actual to date, the forecast line, 95% then 80% bands shaded."""
    running, total = [], Decimal(0)
    for value in path.actual:
        total += value
        running.append(float(total))
    ax.plot(path.actual_days, running, color="#1f4e79", marker="o", ms=3, label="actual to date")
    if not path.forecast_days:
        return
    days = [path.as_of, *path.forecast_days]
    line = [float(total)]
    for value in path.forecast:
        total += value
        line.append(float(total))
    widest_first = sorted(path.bands, key=lambda b: -b.level)
    for band, color in zip(widest_first, ("#f4c7a1", "#e98b4a", "#d35400"), strict=False):
        low, high = path.interval(band.level)
        ax.fill_between(
            days,
            [running[-1], *map(float, band.lower)],
            [running[-1], *map(float, band.upper)],
            color=color,
            alpha=0.6,
            linewidth=0,
            label=f"{band.level}% interval {money(low, path.currency)}..{amount(high)}",
        )
    ax.plot(days, line, color="#c0392b", linestyle="--", label="forecast")
    ax.annotate(
        money(path.forecast_total, path.currency),
        (days[-1], line[-1]),
        textcoords="offset points",
        xytext=(-10, 2),
        ha="right",
        va="bottom",
        fontsize=8,
    )


def _daily(ax: Any, path: ForecastPath) -> None:
    """Daily spend: actual bars, then the forecast of each day left as a line."""
    ax.bar(path.actual_days, [float(v) for v in path.actual], color="#1f4e79", label="actual")
    if path.forecast_days:
        ax.plot(
            path.forecast_days,
            [float(v) for v in path.forecast],
            color="#c0392b",
            linestyle="--",
            marker=".",
            label="forecast",
        )
    ax.set_ylabel(f"{path.currency} per day")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    ax.legend(fontsize=7, loc="upper left", ncols=2)


def forecast_png(path: ForecastPath, title: str | None = None) -> bytes:
    """The forecast chart as PNG bytes (two panels sharing the day axis)."""
    fig = _new_figure()
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top.set_title(title or forecast_title(path), fontsize=9)
    _cumulative(top, path)
    top.set_ylabel(f"{path.currency}, running total")
    top.set_ylim(top=top.get_ylim()[1] * 1.08)  # room for the total's label
    top.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    _daily(bottom, path)
    bottom.grid(alpha=0.3)
    bottom.tick_params(axis="x", labelrotation=45, labelsize=7)
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(_thousands())
    return _png(fig)


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def forecast_data(outcomes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last successful `spend_forecast` result among a turn's tool outcomes."""
    for outcome in reversed(outcomes):
        data = (outcome.get("content") or {}).get("data")
        if outcome.get("ok") and outcome.get("name") == "spend_forecast" and isinstance(data, dict):
            return data
    return None


def forecast_caption(path: ForecastPath) -> str:
    """`Month-end total USD 61,234.00 (80% USD …..…; 95% USD …..…), billed cost, all spend,
    2026-11-01..2026-11-30`: the chart's figures in words (also its alt text)."""
    bands = "; ".join(
        f"{b.level}% {money(path.interval(b.level)[0], path.currency)}.."
        f"{amount(path.interval(b.level)[1])}"
        for b in sorted(path.bands, key=lambda b: b.level)
    )
    return (
        f"{path.horizon.title()}-end total {money(path.forecast_total, path.currency)} "
        f"({bands}), {path.metric} cost, {path.scope()}, "
        f"{path.period_start}..{path.period_end}, as of {path.as_of}"
    )


def chart_for(data: dict[str, Any] | None, path: ForecastPath | None) -> Chart | None:
    """The chart for an answer: the forecast when the answer came from `spend_forecast`, else a
    trend or breakdown of the spend result, else None (a table says it better)."""
    if path is not None:
        return Chart(forecast_png(path), forecast_title(path), forecast_caption(path))
    if data is None:
        return None
    title = f"{data.get('metric', 'billed')} cost, {data['currency']}"
    png = chart_png(data, title)
    return Chart(png, title) if png is not None else None
