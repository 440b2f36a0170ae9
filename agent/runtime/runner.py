"""The agent runtime: builds the state store, ledger, audit log, self-budget meter, checkpointer
and tools from an `AppContext`, and runs the graphs.

- `ask` runs the chat graph on a checkpoint thread (a follow-up with the same thread keeps context).
- A write tool's proposal starts its own action graph, which pauses at `interrupt()`.
- `approve` / `reject` decide in the ledger first, then wake the proposal's action graph; the
  graph re-validates and executes at most once. A new process (new graph, same state database)
  resumes the same checkpoint, so an approval after a restart still runs, and
  `resume_approved` drives a proposal a crash left approved but not executed.
- Both first close executions whose executor died (`close_dead`: its lease lapsed; what the
  targets show now is recorded), never one still running.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command
from pydantic import BaseModel

from agent.context import AppContext
from agent.runtime.action_nodes import ActionNodes
from agent.runtime.chat_nodes import ChatNodes
from agent.runtime.graphs import build_action_graph, build_chat_graph
from agent.runtime.models import ModelHandle, select_models, with_vocabulary
from guardrails.approvals import ApprovalError, Decision, Ledger, Proposal
from guardrails.audit import AuditLog, redact
from guardrails.budget import BudgetMeter, RunUsage
from guardrails.sqlguard import open_readonly
from prompts import load_prompt
from tools.catalog import registry as default_registry
from tools.context import ToolContext
from tools.registry import ToolRegistry
from tools.tickets.sync import sync_tickets
from tools.vocab.catalog import refresh_after_change
from tools.vtags.allocate import ensure_allocation
from warehouse.clock import utc_now
from warehouse.errors import QueryError
from warehouse.ingest.agent_spend import sync_agent_spend
from warehouse.ingest.ai_common import load_price_table

__all__ = ["AskResult", "Runtime", "ToolCallRecord"]

ORPHAN_GRACE = timedelta(seconds=60)
"""How long after its approval an `approved` proposal is taken to be orphaned (its approver's
process died before executing it): approve → claim takes milliseconds in a live process."""


class ToolCallRecord(BaseModel):
    name: str
    args: dict[str, Any]
    ok: bool
    error: str | None = None
    proposal_id: str | None = None


class AskResult(BaseModel):
    """One chat run: the answer, what the agent did, and what it cost."""

    answer: str
    thread_id: str
    run_id: str
    model: str
    tool_calls: list[ToolCallRecord]
    proposals: list[str]
    usage: RunUsage
    stopped: str | None
    prompt_sha256: str


class Runtime:
    """Everything a chat run or an approval needs, built once per process."""

    def __init__(
        self,
        app: AppContext,
        *,
        clock: Callable[[], datetime] = utc_now,
        environ: Mapping[str, str] | None = None,
        models: Sequence[ModelHandle] | None = None,
        registry: ToolRegistry | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.environ = environ if environ is not None else os.environ
        self._models = models
        self.registry = registry or default_registry()
        app.home.ensure()
        self.store = app.state_store()
        self.audit = AuditLog.configured(self.store, clock, app.config.audit, self.environ)
        self.ledger = Ledger(self.store, self.audit, app.config, clock)
        self.meter = BudgetMeter(self.store, app.config.budget, load_price_table(), clock)
        self.saver = app.checkpointer()
        self._ro: duckdb.DuckDBPyConnection | None = None

    # -- chat ----------------------------------------------------------------------------------

    def models(self, name: str | None = None) -> Sequence[ModelHandle]:
        if self._models is not None and name is None:
            return self._models
        return select_models(self.app.config.models, self.app.config.budget, self.environ, name)

    def ask(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        model: str | None = None,
        actor: str = "cli",
        read_only: bool = False,
    ) -> AskResult:
        """Run the chat graph on one question; returns the answer with its tool calls and cost.

        `read_only` (always on for the actor `sweep`) offers the model the read tools only and
        refuses any other call: a sweep's proposals come from its policies, never from a model.
        """
        read_only = read_only or actor == "sweep"
        if not question.strip():
            raise QueryError("the question is empty")
        run_id = f"r-{uuid.uuid4().hex[:12]}"
        ctx = self.tool_context(actor, run_id)
        handles = with_vocabulary(self.models(model), ctx)
        thread = thread_id or f"t-{uuid.uuid4().hex[:12]}"
        prompt = load_prompt(
            "system",
            company="this company",
            currency=self.app.config.reporting_currency,
            today=self.clock().date().isoformat(),
            virtual_tags=", ".join(sorted(self.app.config.virtual_tags)) or "none",
        )
        self.meter.start_run(run_id, thread, handles[0].label)
        self.audit.append(
            "run_start",
            actor,
            {
                "thread_id": thread,
                "question": question,
                "model": handles[0].label,
                "prompt_sha256": prompt.template_sha256,
            },
            run_id=run_id,
        )
        nodes = ChatNodes(
            models=handles,
            registry=self.registry,
            ctx=ctx,
            meter=self.meter,
            system_prompt=prompt.text,
            run_id=run_id,
            on_proposal=self.start_action,
            read_only=read_only,
        )
        graph = build_chat_graph(nodes, self.saver)
        config: Any = {
            "configurable": {"thread_id": thread},
            "recursion_limit": 2 * self.app.config.budget.max_model_calls_per_run + 4,
        }
        before = len(graph.get_state(config).values.get("messages", []))
        status = "failed"
        try:
            final = graph.invoke({"messages": [HumanMessage(redact(question))]}, config)
            status = "stopped" if final.get("stop_reason") else "done"
        finally:
            self.meter.finish_run(run_id, status)
            self._close_readonly()
            self._sync_own_spend()
        new = final["messages"][before:]
        return _result(
            new,
            thread,
            run_id,
            handles[0].label,
            self.meter.run_usage(run_id),
            final.get("stop_reason"),
            prompt.template_sha256,
        )

    def tool_context(self, actor: str, run_id: str | None) -> ToolContext:
        return ToolContext(
            config=self.app.config,
            store=self.store,
            ledger=self.ledger,
            audit=self.audit,
            clock=self.clock,
            warehouse=self._readonly,
            actor=actor,
            run_id=run_id,
            config_path=self.app.home.config_path,
        )

    # -- actions -------------------------------------------------------------------------------

    def _nodes(self) -> ActionNodes:
        return ActionNodes(registry=self.registry, ctx=self.tool_context("finops", None))

    def _action_graph(self) -> Any:
        return build_action_graph(self._nodes(), self.saver)

    def close_dead(self) -> list[str]:
        """Close every execution whose executor died (its lease lapsed), recording what its
        targets show now, re-read through its action; a live execution renews its lease and is
        left alone however long it runs (`Ledger.fail_stale`)."""
        return self.ledger.fail_stale(observe=self._nodes().observe)

    @staticmethod
    def _thread(proposal_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": f"proposal:{proposal_id}"}, "recursion_limit": 10}

    def start_action(self, proposal: Proposal) -> None:
        """Start a proposal's action graph; it runs up to the decision interrupt and waits."""
        self._action_graph().invoke({"proposal_id": proposal.id}, self._thread(proposal.id))

    def run_action(self, proposal_id: str) -> Proposal:
        """Wake the proposal's action graph after a decision; the ledger decides what runs.

        Then drives every other proposal a crash left approved but not executed
        (`resume_approved`)."""
        self.close_dead()
        self._wake(proposal_id)
        self._resume_others(exclude=proposal_id)
        self._close_readonly()
        sync_tickets(self.tool_context("finops", None), environ=self.environ)
        return self.ledger.get(proposal_id)

    def resume_approved(self) -> list[str]:
        """Drive every approved, unexpired proposal to its one execution; return their ids.

        A process that crashed (or was stopped) between recording an approval and executing it
        leaves the proposal `approved`, and a second approval is refused (already decided), so
        the next `approve`, `reject`, Slack click, `sweep` or `serve` start calls this. Only
        approvals older than `ORPHAN_GRACE` are taken over. Each
        proposal still runs at most once: its action graph claims it in the ledger (one winner
        across processes) and re-validates policy, caps and the target before executing.
        """
        self.close_dead()
        driven = self._resume_others(exclude=None)
        if driven:
            self._close_readonly()
            sync_tickets(self.tool_context("finops", None), environ=self.environ)
        return driven

    def _resume_others(self, exclude: str | None) -> list[str]:
        """Wake approved proposals whose approval is older than `ORPHAN_GRACE`: a younger one
        belongs to an approver whose own call is about to claim and run it, and taking it over
        would hand that approver someone else's result."""
        self.ledger.expire_due()
        settled = self.clock() - ORPHAN_GRACE
        driven = [
            p.id
            for p in self.ledger.proposals("approved")
            if p.id != exclude and (p.decided_at is None or p.decided_at <= settled)
        ]
        for pid in driven:
            self._wake(pid)
        return driven

    def _wake(self, proposal_id: str) -> None:
        graph, config = self._action_graph(), self._thread(proposal_id)
        if not graph.get_state(config).values:
            graph.invoke({"proposal_id": proposal_id}, config)
        if graph.get_state(config).next:
            graph.invoke(Command(resume={"proposal_id": proposal_id}), config)

    def approve(self, proposal_id: str, by: str, *, seen_hash: str | None = None) -> Decision:
        """Decide in the ledger, then run the action graph. A refusal because the proposal is
        already decided still drives what a crash left approved (`resume_approved`)."""
        try:
            decision = self.ledger.approve(proposal_id, by, seen_hash=seen_hash)
        except ApprovalError as exc:
            if exc.code == "already_decided":
                self.resume_approved()
            raise
        if decision.outcome == "approved":
            return Decision(outcome="approved", proposal=self.run_action(proposal_id))
        return decision

    def reject(self, proposal_id: str, by: str, reason: str | None = None) -> Proposal:
        self.ledger.reject(proposal_id, by, reason)
        return self.run_action(proposal_id)

    # -- resources -----------------------------------------------------------------------------

    def _readonly(self) -> duckdb.DuckDBPyConnection:
        if self._ro is None:
            path = self.app.warehouse_path
            if not path.exists():
                raise QueryError(f"no warehouse at {path}; run `finops demo` or `finops ingest`")
            if self.app.config.virtual_tags:  # on the engine the tools query (DuckDB or Spark)
                ensure_allocation(self.app.engine(), self.app.config)
            refresh_after_change(self.app.engine(), self.app.config)
            self.app.close()
            self._ro = open_readonly(path)
        return self._ro

    def close_readonly(self) -> None:
        """Close the read-only warehouse connection (reopened on next use), so the warehouse
        is not held open between runs and a writer (ingest, another process) can get in."""
        if self._ro is not None:
            self._ro.close()
            self._ro = None

    _close_readonly = close_readonly  # the former private name, kept for existing callers

    def _sync_own_spend(self) -> None:
        """Write the agent's LLM spend of today and yesterday (a run may cross midnight) to the
        warehouse as FOCUS rows (source finops-agent)."""
        if not self.app.warehouse_path.exists():
            return
        sync_agent_spend(
            self.app.warehouse(),
            self.store,
            self.app.config,
            out_dir=self.app.home.path / "agent-spend",
            days=[self.clock().date() - timedelta(days=1), self.clock().date()],
        )
        self.app.close()

    def close(self) -> None:
        self._close_readonly()
        self.saver.conn.close()
        self.store.close()


def _result(
    messages: Sequence[Any],
    thread: str,
    run_id: str,
    model: str,
    usage: RunUsage,
    stopped: str | None,
    prompt_sha: str,
) -> AskResult:
    calls = [
        ToolCallRecord.model_validate({k: m.artifact.get(k) for k in ToolCallRecord.model_fields})
        for m in messages
        if isinstance(m, ToolMessage) and isinstance(m.artifact, dict)
    ]
    answers = [m for m in messages if isinstance(m, AIMessage) and not m.tool_calls]
    answer = answers[-1].content if answers else ""
    return AskResult(
        answer=answer if isinstance(answer, str) else json.dumps(answer),
        thread_id=thread,
        run_id=run_id,
        model=model,
        tool_calls=calls,
        proposals=[c.proposal_id for c in calls if c.proposal_id],
        usage=usage,
        stopped=stopped,
        prompt_sha256=prompt_sha,
    )
