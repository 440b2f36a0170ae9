"""`finops forecast`: month-end (or quarter-end) forecast per scope with intervals; backtest."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.allocation import refresh_allocation
from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json, table
from agent.context import AppContext
from tools.forecast.backtest import BacktestQuery, BacktestResult, HorizonScore, backtest
from tools.forecast.service import LEVELS, ForecastQuery, ForecastResult, SeriesForecast, forecast
from tools.periods import parse_day
from tools.query import resolve_dimension
from tools.spend.engine import Filter, parse_filter
from warehouse.errors import QueryError
from warehouse.format import amount, percent

__all__ = ["register"]


def _scope(filters: list[Filter]) -> str:
    if not filters:
        return "all spend"
    return "; ".join(
        f"{f.dimension}{'!=' if f.negate else '='}{','.join(f.values)}" for f in filters
    )


def _interval(s: SeriesForecast, level: int) -> str:
    i = s.interval(level)
    return f"{amount(i.lower)} – {amount(i.upper)}"


def _model(s: SeriesForecast) -> str:
    return {"holt": "robust Holt", "young": f"young ({s.history_days} d)", "zero": "zero"}[s.model]


def _show_forecast(r: ForecastResult) -> None:
    cur = r.currency
    period = "Month" if r.horizon == "month" else "Quarter"
    head = [
        r.by or "scope",
        "actual to date",
        f"forecast, {r.days_remaining} days left",
        f"{r.horizon}-end forecast",
        *(f"{lv}% interval ({r.currency})" for lv in LEVELS),
        "model",
    ]

    def row(label: str, s: SeriesForecast) -> list[str]:
        return [
            label,
            money(s.actual_to_date, cur),
            money(s.forecast_remaining, cur),
            money(s.forecast_total, cur),
            *(_interval(s, lv) for lv in LEVELS),
            _model(s),
        ]

    rows = [row(next(iter(g.dimensions.values())), g) for g in r.groups]
    rows.append(row("total" if r.groups else _scope(r.filters), r.total))
    title = (
        f"{period}-end forecast, {r.metric} cost in {cur}, {r.period_start} to {r.period_end}, "
        f"as of {r.as_of} ({r.days_actual} days actual, {r.days_remaining} forecast), "
        f"{_scope(r.filters)}"
    )
    out_console.print(table(title, head, rows, right=(1, 2, 3, 4, 5)))
    out_console.print(
        f"Method: {r.method}; intervals: {r.interval_method}, around the exact actual to date; "
        f"history from {r.history_since}.",
        markup=False,
        soft_wrap=True,
    )
    if r.note:
        out_console.print(f"Note: {r.note}", markup=False)


def _show_backtest(r: BacktestResult) -> None:
    head = [
        "horizon",
        "points",
        "MAPE ours",
        "MAPE s-naive",
        "sMAPE ours",
        "sMAPE s-naive",
        "WAPE ours",
        "WAPE s-naive",
        *(f"{lv}% coverage" for lv in LEVELS),
    ]

    def row(h: HorizonScore) -> list[str]:
        return [
            h.horizon + (" *" if h.horizon == r.primary else ""),
            f"{h.points:,}",
            percent(h.ours.mape, 2),
            percent(h.baseline.mape, 2),
            percent(h.ours.smape, 2),
            percent(h.baseline.smape, 2),
            percent(h.ours.wape, 2),
            percent(h.baseline.wape, 2),
            *(percent(h.coverage.get(str(lv)), 2) for lv in LEVELS),
        ]

    origins = f"{r.first_origin} to {r.last_origin}" if r.first_origin else "none"
    title = (
        f"Backtest, {r.metric} cost in {r.currency}, {_scope(r.filters)}"
        f"{f' by {r.by}' if r.by else ''}: {r.series} series, origins {origins}, as of {r.as_of}"
    )
    out_console.print(table(title, head, [row(h) for h in r.horizons], right=range(1, 10)))
    for h in r.horizons:
        if h.ours_month_total_mape is not None:
            out_console.print(
                f"Month-end total (actual to date + forecast) MAPE: ours "
                f"{percent(h.ours_month_total_mape, 2)}, seasonal-naive "
                f"{percent(h.baseline_month_total_mape, 2)}."
            )
    out_console.print(f"Ours: {r.method}. Baseline: {r.baseline}. * primary horizon.", markup=False)
    out_console.print(f"Verdict: {r.verdict}.", markup=False)


def forecast_command(
    ctx: typer.Context,
    by: Annotated[
        str | None,
        typer.Option(help="One dimension: a FOCUS column, tag:KEY or vtag:NAME (e.g. vtag:team)."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="DIM=VALUE[,VALUE] or DIM!=VALUE; repeatable."),
    ] = None,
    quarter: Annotated[
        bool, typer.Option("--quarter", help="Forecast the quarter end instead of the month end.")
    ] = False,
    run_backtest: Annotated[
        bool,
        typer.Option("--backtest", help="Rolling-origin backtest: MAPE of ours vs seasonal-naive."),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="As-of day (default: the latest charge day), YYYY-MM-DD."),
    ] = None,
    metric: Annotated[str, typer.Option(help="billed|effective|list")] = "billed",
    top: Annotated[int, typer.Option(min=1, help="Values of --by kept; the rest is (other).")] = 20,
    origins: Annotated[
        int, typer.Option(min=7, max=730, help="Backtest: last N days used as origins.")
    ] = 90,
    as_json: JsonOpt = False,
) -> None:
    """Month-end (or quarter-end) spend forecast with 80%/95% intervals, per scope."""
    app: AppContext = ctx.obj
    if metric not in ("billed", "effective", "list"):
        raise QueryError(f"invalid --metric {metric!r}; valid: billed, effective, list")
    parsed = [parse_filter(f) for f in filters or []]
    parsed_dims = [f.dimension for f in parsed]
    day = parse_day(as_of, "--as-of")
    specs = [*([by] if by else []), *parsed_dims]
    dims = [resolve_dimension(d, app.config.virtual_tags) for d in specs]
    if any(d.join for d in dims):
        refresh_allocation(app, quiet=as_json)
    result: ForecastResult | BacktestResult
    if run_backtest:
        query = BacktestQuery.model_validate(
            {
                "by": by,
                "filters": parsed,
                "as_of": day,
                "metric": metric,
                "origins": origins,
                "top": top,
                "quarter": quarter,
            }
        )
        result = backtest(app.engine(), app.config, query)
    else:
        fq = ForecastQuery.model_validate(
            {
                "by": by,
                "filters": parsed,
                "as_of": day,
                "metric": metric,
                "top": top,
                "horizon": "quarter" if quarter else "month",
            }
        )
        result = forecast(app.engine(), app.config, fq)
    if as_json:
        print_json(result)
    elif isinstance(result, BacktestResult):
        _show_backtest(result)
    else:
        _show_forecast(result)


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
