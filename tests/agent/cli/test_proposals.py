"""`finops ask / proposals / approve / reject / audit` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from langchain_core.messages import AIMessage

from agent.config import Config, Home
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tests.helpers.agent import call, scripted
from tests.helpers.cli import run_cli
from warehouse.db import connect

TICKET = {"title": "Rightsize db-7 in payments-prod", "owner": "payments", "priority": "high"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(yaml.safe_dump({"approvers": ["alice", "bob"]}))
    connect(home / "warehouse.duckdb").close()
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return home


def proposal(home: Path) -> str:
    """A pending open_ticket proposal made by a scripted chat run (real clock)."""
    h = Home(home)
    app = AppContext(home=h, config=Config(approvers=["alice", "bob"]))
    handle = scripted(call("open_ticket", TICKET), AIMessage("Proposed."))
    rt = Runtime(app, environ={}, models=[handle])
    pid = rt.ask("open a ticket").proposals[0]
    rt.close()
    return pid


def test_proposals_list_show_and_approve(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = proposal(home)
    listed = run_cli(capsys, "proposals", "--json").json()["proposals"]
    assert [(p["id"], p["status"]) for p in listed] == [(pid, "pending")]
    shown = run_cli(capsys, "proposals", "show", pid)
    assert shown.code == 0
    for text in ("open_ticket", "tickets/payments", "rollback", "expires", "USD 0.00 / month"):
        assert text in shown.out
    doc = run_cli(capsys, "proposals", "show", pid, "--json").json()
    approved = run_cli(capsys, "approve", pid, "--by", "alice", "--hash", doc["action_hash"])
    assert approved.code == 0, approved.err
    assert "approved by alice; status done" in approved.out and "ticket_id=1" in approved.out
    again = run_cli(capsys, "approve", pid, "--by", "bob")
    assert again.code == 1 and again.err.startswith("error:") and "already done" in again.err
    assert run_cli(capsys, "proposals", "--status", "done", "--json").json()["proposals"]
    tickets = run_cli(capsys, "tickets", "--json").json()["tickets"]
    assert [(t["id"], t["status"], t["proposal_id"]) for t in tickets] == [(1, "open", pid)]
    assert "#1" in run_cli(capsys, "tickets").out
    closed = run_cli(capsys, "tickets", "close", "1", "--by", "alice")
    assert closed.code == 0 and "closed by alice" in closed.out
    twice = run_cli(capsys, "tickets", "close", "1", "--by", "alice")
    assert twice.code == 1 and "already closed" in twice.err


def test_reject_and_refusals(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = proposal(home)
    refused = run_cli(capsys, "approve", pid, "--by", "mallory")
    assert refused.code == 1 and "not an approver" in refused.err
    stale = run_cli(capsys, "approve", pid, "--by", "alice", "--hash", "f" * 64)
    assert stale.code == 1 and "changed since it was shown" in stale.err
    rejected = run_cli(capsys, "reject", pid, "--by", "bob", "--reason", "dup", "--json").json()
    assert rejected["status"] == "rejected" and rejected["reason"] == "dup"
    assert run_cli(capsys, "proposals", "show", "p-nope").code == 1
    bad = run_cli(capsys, "proposals", "--status", "maybe")
    assert bad.code == 1 and "unknown status" in bad.err


def test_audit_lists_and_verifies(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = proposal(home)
    run_cli(capsys, "approve", pid, "--by", "alice")
    entries = run_cli(capsys, "audit", "--json").json()["entries"]
    kinds = [e["kind"] for e in entries]
    assert {"run_start", "model_call", "tool_call", "proposal", "decision", "execution"} <= set(
        kinds
    )
    ok = run_cli(capsys, "audit", "--verify")
    assert ok.code == 0 and "audit log OK" in ok.out
    assert run_cli(capsys, "audit", "--verify", "--json").json()["ok"] is True
    human = run_cli(capsys, "audit", "--kind", "decision")
    assert "decision" in human.out and "alice" in human.out
    import sqlite3

    conn = sqlite3.connect(home / "state.db")
    conn.execute("UPDATE audit_log SET payload = '{}' WHERE seq = 2")
    conn.commit()
    conn.close()
    bad = run_cli(capsys, "audit", "--verify")
    assert bad.code == 1 and "entry 2" in bad.err


def test_ask_rejects_an_empty_question_and_unknown_model(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = run_cli(capsys, "ask", "  ")
    assert empty.code == 1 and "empty" in empty.err
    unknown = run_cli(capsys, "ask", "hi", "--model", "llama")
    assert unknown.code == 1 and "unknown model" in unknown.err
    nokey = run_cli(capsys, "ask", "hi", "--model", "anthropic")
    assert nokey.code == 1 and "ANTHROPIC_API_KEY is not set" in nokey.err
