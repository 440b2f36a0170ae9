"""`finops ingest`: load billing files, folders, s3:// prefixes or provider APIs into FOCUS."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.cli.common import JsonOpt
from agent.cli.render import err_console, money, out_console, print_json, table
from agent.context import AppContext
from tools.forecast.store import refresh_after_ingest, refresh_summary
from tools.vocab.catalog import refresh_after_change
from tools.vocab.catalog import refresh_summary as vocab_summary
from warehouse.errors import IngestError
from warehouse.ingest import FORMATS, IngestReport, LocalFile, resolve_inputs, run_ingest

__all__ = ["register"]

_FORMAT_HELP = "auto|" + "|".join(FORMATS)


def _show(report: IngestReport) -> None:
    rows = [
        [
            t.source,
            str(t.billing_period_start),
            f"{t.rows:,}",
            money(t.billed_cost, t.currency),
            money(t.effective_cost, t.currency),
        ]
        for t in report.totals
    ]
    out_console.print(
        table(
            f"Ingested {report.rows:,} rows from {len(report.files)} file(s); "
            f"replaced {report.replaced_rows:,} earlier rows",
            ["source", "billing period", "rows", "billed cost", "effective cost"],
            rows,
            right=(2, 3, 4),
        )
    )
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False)


def _pull(provider: str, days: int, app: AppContext, workdir: Path) -> list[LocalFile]:
    from warehouse.ingest.provider_api import pull_provider

    return pull_provider(provider, days=days, config=app.config, workdir=workdir)


def ingest_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders, globs or s3://bucket/prefix URLs.", show_default=False
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help=_FORMAT_HELP)] = "auto",
    source: Annotated[
        str | None,
        typer.Option(
            help="Source name. A re-ingest replaces rows of the same source, provider, billing "
            "account and period; with --source, one that would drop another provider's or "
            "account's rows is refused."
        ),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Column-mapping YAML for --format mapped.")
    ] = None,
    from_api: Annotated[
        str | None, typer.Option("--from", help="Pull from a provider API: openai|anthropic.")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days to pull with --from.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Ingest billing data into the FOCUS warehouse (one transaction; restated periods replace)."""
    app: AppContext = ctx.obj
    if fmt != "auto" and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; valid formats: auto, {', '.join(FORMATS)}")
    if not inputs and not from_api:
        raise IngestError("nothing to ingest: give files/URLs or --from openai|anthropic")
    options = {"mapping": str(mapping)} if mapping else {}
    with tempfile.TemporaryDirectory(prefix="finops-ingest-") as tmp:
        workdir = Path(tmp)
        files = resolve_inputs(inputs or [], workdir) if inputs else []
        if from_api:
            files += _pull(from_api, days, app, workdir)
            fmt = from_api if not inputs else fmt
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task("ingesting", total=len(files))
            report = run_ingest(
                app.warehouse(),
                files,
                config=app.config,
                fmt=fmt,
                source=source,
                options=options,
                on_file=lambda f, done, total: progress.update(task, completed=done),
            )
    refreshed = refresh_after_ingest(app.warehouse(), app.config)
    vocab = refresh_after_change(app.engine(), app.config)
    if as_json:
        print_json(report)
    else:
        _show(report)
        if refreshed is not None:
            err_console.print(refresh_summary(refreshed), markup=False)
        err_console.print(vocab_summary(vocab), markup=False)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
