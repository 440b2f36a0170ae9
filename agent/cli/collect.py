"""`finops collect aws|kubernetes`: inventory and utilization into `resources` / `utilization`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import Progress

from agent.cli.common import JsonOpt
from agent.cli.render import err_console, out_console, print_json, table
from agent.context import AppContext
from warehouse.clock import utc_now
from warehouse.cloud import CloudSettings
from warehouse.errors import ConfigError
from warehouse.inventory.aws import collect_aws
from warehouse.inventory.config import AwsCollectConfig, CollectConfig
from warehouse.inventory.k8s import collect_kubernetes
from warehouse.inventory.models import CollectResult

__all__ = ["collect_config", "register"]

collect_app = typer.Typer(
    help="Collect cloud and cluster inventory with utilization (for idle and rightsizing).",
    no_args_is_help=True,
)


def collect_config(app: AppContext) -> CollectConfig:
    """The `collect:` section of the config (defaults when the config has none)."""
    found = getattr(app.config, "collect", None)
    return found if isinstance(found, CollectConfig) else CollectConfig()


def _run(quiet: bool, label: str, work: Callable[[Callable[[str], None]], CollectResult]) -> Any:
    """Run `work` with a transient progress line on a terminal's stderr (per region / service)."""
    off = quiet or not err_console.is_terminal
    with Progress(console=err_console, transient=True, disable=off) as progress:
        task = progress.add_task(label, total=None)
        return work(lambda line: progress.update(task, description=line))


def _show(result: CollectResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    where = ", ".join(
        f"{s['account_id']}/{s['region']}" if s["region"] else str(s["account_id"])
        for s in result.scopes
    )
    total = sum(result.resources.values())
    out_console.print(
        f"Collected {total:,} {result.provider} resources ({where}); "
        f"{sum(result.samples.values()):,} utilization samples; {result.removed:,} resources "
        f"gone since the last collection; {result.api_calls:,} API calls, "
        f"{result.retries:,} throttling retries, {result.seconds:.1f} s",
        markup=False,
        soft_wrap=True,
    )
    rows = [["resources", k, f"{v:,}"] for k, v in result.resources.items()]
    rows += [["samples", k, f"{v:,}"] for k, v in result.samples.items()]
    out_console.print(table("Written", ["table", "kind / metric", "rows"], rows, right=(2,)))
    for w in result.warnings:
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


@collect_app.command("aws")
def aws_command(
    ctx: typer.Context,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Region to collect (repeatable); default collect.aws."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """EC2, EBS, Elastic IPs, RDS and load balancers with CloudWatch utilization."""
    app: AppContext = ctx.obj
    config = collect_config(app).aws
    if region:
        try:
            config = AwsCollectConfig.model_validate({**config.model_dump(), "regions": region})
        except ValidationError as exc:
            raise ConfigError(f"--region: {exc.errors()[0]['msg']}") from None
    settings = CloudSettings.from_environ(os.environ)
    con = app.warehouse()
    result = _run(
        as_json,
        "collecting AWS",
        lambda progress: collect_aws(con, config, settings, now=utc_now(), on_progress=progress),
    )
    _show(result, as_json)


@collect_app.command("kubernetes")
def kubernetes_command(
    ctx: typer.Context,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="kubeconfig context (repeatable); default collect."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Deployments and StatefulSets with requests, limits and usage."""
    app: AppContext = ctx.obj
    config = collect_config(app).kubernetes
    settings = CloudSettings.from_environ(os.environ)
    con = app.warehouse()
    result = _run(
        as_json,
        "collecting Kubernetes",
        lambda progress: collect_kubernetes(
            con,
            config,
            settings,
            now=utc_now(),
            contexts=context or (),
            on_progress=progress,
        ),
    )
    _show(result, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(collect_app, name="collect")
