"""`finops vocab`: the warehouse's own names for everything a question can refer to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agent.cli.common import JsonOpt
from agent.cli.render import err_console, money, out_console, print_json, table
from agent.context import AppContext
from tools.vocab.agent_tools import VocabHit, lookup_result
from tools.vocab.catalog import (
    Vocabulary,
    load_vocabulary,
    refresh_summary,
    refresh_vocabulary,
)
from warehouse.errors import QueryError

__all__ = ["register"]


def _load(app: AppContext, *, refresh: bool, quiet: bool) -> Vocabulary:
    """The current catalog (virtual tags allocated first when configured)."""
    if app.config.virtual_tags:
        from agent.cli.allocation import refresh_allocation

        refresh_allocation(app, quiet=quiet)
    if refresh:
        result = refresh_vocabulary(app.engine(), app.config)
        if not quiet:
            err_console.print(refresh_summary(result), markup=False)
    return load_vocabulary(app.engine(), app.config)


def _span(first: object, last: object) -> str:
    return f"{first}..{last}" if first else "no data"


def _overview(vocab: Vocabulary, as_json: bool) -> None:
    dims: list[dict[str, Any]] = []
    for d in vocab.dimensions():
        dims.append(
            {
                "dimension": d,
                "values": vocab.count(d),
                "cost": vocab.total(d),
                "top": vocab.top(d, 1)[0].value,
            }
        )
    if as_json:
        print_json(
            {
                "currency": vocab.currency,
                "first_day": vocab.first_day,
                "last_day": vocab.last_day,
                "months": vocab.months,
                "built_at": vocab.built_at,
                "warnings": vocab.warnings,
                "dimensions": dims,
            }
        )
        return
    cur = vocab.currency
    rows = [
        [d["dimension"], f"{d['values']:,}", money(d["cost"], cur), _short(str(d["top"]))]
        for d in dims
    ]
    title = (
        f"Vocabulary: {len(vocab):,} values in {len(dims)} dimensions, billed cost in {cur}, "
        f"data {_span(vocab.first_day, vocab.last_day)}"
    )
    out_console.print(table(title, ["dimension", "values", "spend", "top value"], rows, (1, 2)))
    for warning in vocab.warnings:
        err_console.print(f"warning: {warning}", markup=False)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _values(vocab: Vocabulary, dimension: str, limit: int, as_json: bool) -> None:
    name = vocab.canonical_dimension(dimension)
    if name is None:
        close = vocab.search_dimensions(None)
        raise QueryError(
            f"the catalog has no dimension {dimension!r}; it has: {', '.join(close[:40]) or 'none'}"
        )
    entries, count = vocab.top(name, limit), vocab.count(name)
    if as_json:
        print_json(
            {
                "dimension": name,
                "currency": vocab.currency,
                "values": count,
                "entries": [e.model_dump(mode="json") for e in entries],
            }
        )
        return
    labelled = any(e.label for e in entries)
    columns = ["value", *(["label"] if labelled else []), "spend", "first day", "last day", "rows"]
    rows = [
        [
            _short(e.value),
            *([_short(e.label or "")] if labelled else []),
            money(e.cost, vocab.currency),
            str(e.first_day),
            str(e.last_day),
            f"{e.rows:,}",
        ]
        for e in entries
    ]
    shown = f"top {limit} of " if count > limit else ""
    title = f"{name}: {shown}{count:,} values, billed cost in {vocab.currency}"
    right = [i for i, c in enumerate(columns) if c in ("spend", "rows")]
    out_console.print(table(title, columns, rows, right))


def _hit_rows(hits: list[VocabHit], currency: str) -> list[list[str]]:
    return [
        [
            h.dimension,
            _short(h.value),
            h.how if h.how != "fuzzy" else f"fuzzy {h.score:.0f}",
            money(h.cost, currency),
            f"{h.first_day}..{h.last_day}",
        ]
        for h in hits
    ]


def _search(vocab: Vocabulary, text: str, dimension: str | None, limit: int, as_json: bool) -> None:
    result = lookup_result(vocab, text, dimension, limit)
    if as_json:
        print_json(result)
        return
    columns = ["dimension", "value", "match", "spend", "days"]
    if result.matches:
        more = f" (+{result.more} more)" if result.more else ""
        title = f"{text!r} names{more}:"
        rows = _hit_rows(result.matches, result.currency)
        out_console.print(table(title, columns, rows, (3,)))
        return
    if not result.closest:
        out_console.print(f"No value matches {text!r}, and none is close.")
        return
    title = f"No value matches {text!r}; closest:"
    out_console.print(table(title, columns, _hit_rows(result.closest, result.currency), (3,)))


def vocab_command(
    ctx: typer.Context,
    dimension: Annotated[
        str | None,
        typer.Argument(
            help="A dimension (ServiceName, SubAccountName, RegionId, tag:KEY, vtag:NAME…): "
            "its values with spend and date range.",
            show_default=False,
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search", help="Look a name up: exact and alias matches, else the closest values."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most values to show.")] = 50,
    refresh: Annotated[bool, typer.Option("--refresh", help="Rebuild the catalog first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The warehouse's vocabulary: every dimension's values with spend and date range."""
    app: AppContext = ctx.obj
    vocab = _load(app, refresh=refresh, quiet=as_json)
    if search is not None:
        _search(vocab, search, dimension, limit, as_json)
    elif dimension is not None:
        _values(vocab, dimension, limit, as_json)
    else:
        _overview(vocab, as_json)


def register(app: typer.Typer) -> None:
    app.command("vocab")(vocab_command)
