"""Runaway flags in `state.db`: one open flag per agent, rule (and task), with its evidence.

A finding opens a flag unless the same agent/rule/task already has an open one; then the open flag
is refreshed (latest evidence, peak ratio, last time the rule held). A flag resolves once its rule
has been false for `resolve_after_minutes`. Opening a flag is audited and, with
`runaway.action: propose`, asks the approvals ledger for one `disable_api_key` proposal per key the
runaway spend went through; an undecided proposal for the very same action (same hash) is reused,
never duplicated. Nothing here touches a key: only an approved proposal's action does.

The table is state migration 9 (`warehouse/state/migrations.py`), applied when the store opens.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from guardrails.approvals import Ledger, Proposal, ProposalDraft, action_hash
from guardrails.audit import AuditLog
from tools.events.config import RunawayConfig
from tools.events.keys import KeyRef, disable_key_draft
from tools.events.rules import Finding
from tools.settings import ToolSettings
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "Flag",
    "FlagBook",
    "FlagHook",
    "LedgerProposer",
    "Proposer",
    "get_flag",
    "list_flags",
]

ACTOR = "finops-events"


class Flag(BaseModel):
    """A runaway flag as stored and served by `GET /v1/runaway`."""

    id: str
    agent_id: str
    rule: str
    task_id: str | None
    team: str | None
    status: Literal["open", "resolved"]
    opened_at: datetime
    updated_at: datetime
    last_true_at: datetime
    resolved_at: datetime | None
    trigger_received_at: datetime
    latency_seconds: float
    evidence: dict[str, Any]
    proposal_ids: list[str] = Field(default_factory=list)


FlagHook = Callable[["Flag", Literal["trigger", "resolve"]], None]
"""Called after a flag opens (`trigger`) or resolves (`resolve`), e.g. to alert its owner."""


class Proposer(Protocol):
    """Records a proposal (returning its id), reusing an undecided identical one."""

    def propose(self, draft: ProposalDraft) -> str: ...


class LedgerProposer:
    """Proposes through the approvals ledger; `on_proposal` starts its action workflow."""

    def __init__(self, ledger: Ledger, on_proposal: Callable[[Proposal], None] | None = None):
        self.ledger = ledger
        self.on_proposal = on_proposal

    def propose(self, draft: ProposalDraft) -> str:
        digest = action_hash(draft.action, draft.target, draft.params)
        same = self.ledger.store.query(
            "SELECT id FROM proposals WHERE action_hash = ? AND status IN "
            "('pending', 'approved', 'executing') ORDER BY created_at LIMIT 1",
            (digest,),
        )
        if same:
            return str(same[0]["id"])
        proposal = self.ledger.propose(draft, created_by=ACTOR)
        if self.on_proposal is not None:
            self.on_proposal(proposal)
        return proposal.id


def _flag(row: Any) -> Flag:
    data = dict(row)
    data["task_id"] = data["task_id"] or None
    data["evidence"] = json.loads(data["evidence"])
    data["proposal_ids"] = json.loads(data["proposal_ids"])
    return Flag.model_validate(data)


def list_flags(store: StateStore, status: str | None = None, limit: int = 100) -> list[Flag]:
    """Flags, newest first (`status`: open, resolved or None for all)."""
    where = " WHERE status = ?" if status else ""
    rows = store.query(
        f"SELECT * FROM runaway_flags{where} ORDER BY opened_at DESC, id LIMIT ?",
        ((status,) if status else ()) + (limit,),
    )
    return [_flag(r) for r in rows]


def get_flag(store: StateStore, flag_id: str) -> Flag:
    rows = store.query("SELECT * FROM runaway_flags WHERE id = ?", (flag_id,))
    if not rows:
        raise KeyError(f"no runaway flag {flag_id!r}")
    return _flag(rows[0])


class FlagBook:
    """Applies each evaluation's findings to the flags table and the ledger."""

    def __init__(
        self,
        store: StateStore,
        audit: AuditLog,
        config: ToolSettings,
        rules: RunawayConfig,
        proposer: Proposer | None,
        on_change: FlagHook | None = None,
    ) -> None:
        self.store, self.audit, self.config = store, audit, config
        self.rules, self.proposer, self.on_change = rules, proposer, on_change

    def apply(self, findings: list[Finding], now: datetime) -> list[Flag]:
        """Open, refresh or resolve flags; return the flags opened now."""
        open_rows = self.store.query("SELECT * FROM runaway_flags WHERE status = 'open'")
        current = {(r["agent_id"], r["rule"], r["task_id"]): r for r in open_rows}
        opened, seen = [], set()
        for finding in findings:
            key = (finding.agent_id, finding.rule, finding.task_id or "")
            seen.add(key)
            if key in current:
                self._refresh(current[key], finding, now)
            else:
                opened.append(self._open(finding, now))
        resolve_after = timedelta(minutes=self.rules.resolve_after_minutes)
        for key, row in current.items():
            if (
                key not in seen
                and now - datetime.fromisoformat(row["last_true_at"]) >= resolve_after
            ):
                self._resolve(row, now)
        return opened

    def _refresh(self, row: Any, finding: Finding, now: datetime) -> None:
        old = json.loads(row["evidence"])
        evidence = {**finding.evidence, "reason": finding.reason, "evaluated_at": now.isoformat()}
        ratios = [r for r in (old.get("peak_ratio"), old.get("ratio"), evidence.get("ratio")) if r]
        if ratios:
            evidence["peak_ratio"] = max(ratios, key=float)
        evidence["first_evidence"] = old.get("first_evidence") or {
            k: v for k, v in old.items() if k != "first_evidence"
        }
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE runaway_flags SET evidence = ?, updated_at = ?, last_true_at = ? "
                "WHERE id = ?",
                (json.dumps(evidence, default=str), utc_text(now), utc_text(now), row["id"]),
            )

    def _open(self, finding: Finding, now: datetime) -> Flag:
        fid = f"rf-{uuid.uuid4().hex[:12]}"
        latency = max((now - finding.trigger_received_at).total_seconds(), 0.0)
        evidence = {
            **finding.evidence,
            "trigger_received_at": finding.trigger_received_at.isoformat(),
            "trigger_exact": finding.trigger_exact,
            "detected_at": now.isoformat(),
            "reason": finding.reason,
        }
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO runaway_flags (id, agent_id, rule, task_id, team, status, opened_at,"
                " updated_at, last_true_at, trigger_received_at, latency_seconds, evidence)"
                " VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (
                    fid,
                    finding.agent_id,
                    finding.rule,
                    finding.task_id or "",
                    finding.team,
                    utc_text(now),
                    utc_text(now),
                    utc_text(now),
                    utc_text(finding.trigger_received_at),
                    latency,
                    json.dumps(evidence, default=str),
                ),
            )
            self.audit.append(
                "runaway_flag",
                ACTOR,
                {
                    "flag_id": fid,
                    "agent_id": finding.agent_id,
                    "rule": finding.rule,
                    "task_id": finding.task_id,
                    "reason": finding.reason,
                    "latency_seconds": round(latency, 3),
                },
            )
        self._propose(fid, finding, evidence)
        flag = get_flag(self.store, fid)
        if self.on_change is not None:
            self.on_change(flag, "trigger")
        return flag

    def _propose(self, fid: str, finding: Finding, evidence: dict[str, Any]) -> None:
        if self.rules.action != "propose" or self.proposer is None:
            return
        ids, skipped = [], []
        for provider, key, project in sorted({(u[0], u[1], u[2]) for u in finding.uses}, key=str):
            try:
                ref = KeyRef(provider=provider, api_key_id=key, project_id=project)  # type: ignore[arg-type]
            except ValidationError as exc:
                skipped.append(f"{provider} key {key}: {exc.errors()[0]['msg']}")
                continue
            draft = disable_key_draft(
                ref,
                config=self.config,
                agent_id=finding.agent_id,
                team=finding.team,
                burn_rate_per_hour=finding.burn_rate_per_hour,
                horizon_hours=self.rules.saving_horizon_hours,
                evidence={"flag_id": fid, **evidence},
                reason=finding.reason,
            )
            ids.append(self.proposer.propose(draft))
        extra = {"proposal_skipped": skipped} if skipped else {}
        with self.store.transaction() as conn:
            row = conn.execute("SELECT evidence FROM runaway_flags WHERE id = ?", (fid,)).fetchone()
            merged = {**json.loads(row[0]), **extra}
            conn.execute(
                "UPDATE runaway_flags SET proposal_ids = ?, evidence = ? WHERE id = ?",
                (json.dumps(sorted(set(ids))), json.dumps(merged, default=str), fid),
            )

    def _resolve(self, row: Any, now: datetime) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE runaway_flags SET status = 'resolved', resolved_at = ?, updated_at = ? "
                "WHERE id = ? AND status = 'open'",
                (utc_text(now), utc_text(now), row["id"]),
            )
            self.audit.append(
                "runaway_resolved", ACTOR, {"flag_id": row["id"], "agent_id": row["agent_id"]}
            )
        if self.on_change is not None:
            self.on_change(get_flag(self.store, row["id"]), "resolve")
