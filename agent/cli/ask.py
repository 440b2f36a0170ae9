"""`finops ask`: a question to the agent, answered from the warehouse with tools."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import err_console, money, out_console, print_json
from warehouse.errors import FinopsError

__all__ = ["register"]


def ask_command(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A FinOps question in plain words.")],
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation thread.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="offline, anthropic[:MODEL] or openai[:MODEL]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the agent; it answers from the warehouse with tools, within its self-budget.

    A run the self-budget stopped exits 1 with one `error:` line saying which cap and what was
    done so far (with --json, after the JSON result, whose `stopped` names the cap)."""
    rt = runtime(ctx)
    try:
        result = rt.ask(question, thread_id=thread, model=model)
    finally:
        rt.close()
    if result.stopped:
        if as_json:
            print_json(result)
        raise FinopsError(" ".join(result.answer.split()))
    if as_json:
        print_json(result)
        return
    out_console.print(result.answer, markup=False, soft_wrap=True)
    calls = ", ".join(c.name + ("" if c.ok else " (error)") for c in result.tool_calls) or "none"
    u = result.usage
    err_console.print(
        f"[dim]thread {result.thread_id} · model {result.model} · tools: {calls} · "
        f"{u.model_calls} model call(s), {u.input_tokens + u.cache_read_tokens} in / "
        f"{u.output_tokens} out tokens · {money(u.cost_usd, 'USD')}[/dim]"
    )


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
