"""Issue 18, point 13 through the real CLI: `tickets close` needs an allow-listed approver,
`approve --hash` takes the prefix a card shows, and `ask` stopped by the self-budget exits 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(yaml.safe_dump({"approvers": ["alice", "bob"], **config}))
    connect(home / "warehouse.duckdb").close()
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _home(tmp_path, monkeypatch)


def _proposal(home: Path) -> str:
    app = AppContext(home=Home(home), config=Config(approvers=["alice", "bob"]))
    handle = scripted(call("open_ticket", TICKET), AIMessage("Proposed."))
    rt = Runtime(app, environ={}, models=[handle])
    pid = rt.ask("open a ticket").proposals[0]
    rt.close()
    return pid


def test_tickets_close_needs_an_allow_listed_approver(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = _proposal(home)
    assert run_cli(capsys, "approve", pid, "--by", "alice").code == 0
    refused = run_cli(capsys, "tickets", "close", "1", "--by", "mallory")
    assert refused.code == 1 and refused.err.startswith("error:")
    assert "'mallory' is not an approver" in refused.err and len(refused.err.splitlines()) == 1
    tickets = run_cli(capsys, "tickets", "--json").json()["tickets"]
    assert [(t["id"], t["status"]) for t in tickets] == [(1, "open")]
    refusals = run_cli(capsys, "audit", "--kind", "refusal", "--json").json()["entries"]
    assert [(e["actor"], e["payload"]["ticket_id"]) for e in refusals] == [("mallory", 1)]
    closed = run_cli(capsys, "tickets", "close", "1", "--by", "bob")
    assert closed.code == 0 and "closed by bob" in closed.out


def test_approve_takes_the_hash_prefix_the_card_shows(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = _proposal(home)
    shown = run_cli(capsys, "proposals", "show", pid)
    full = run_cli(capsys, "proposals", "show", pid, "--json").json()["action_hash"]
    assert full[:16] in shown.out and full not in shown.out
    short = run_cli(capsys, "approve", pid, "--by", "alice", "--hash", full[:15])
    assert short.code == 1 and "at least 16 hex characters" in short.err
    other = ("0" if full[0] != "0" else "1") + full[1:16]
    wrong = run_cli(capsys, "approve", pid, "--by", "alice", "--hash", other)
    assert wrong.code == 1 and "changed since it was shown" in wrong.err
    assert run_cli(capsys, "proposals", "show", pid, "--json").json()["status"] == "pending"
    ok = run_cli(capsys, "approve", pid, "--by", "alice", "--hash", full[:16].upper())
    assert ok.code == 0, ok.err
    assert "approved by alice; status done" in ok.out


def test_ask_stopped_by_the_self_budget_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _home(tmp_path, monkeypatch, budget={"max_model_calls_per_run": 1})
    question = "what is pending approval?"  # one tool call, then the cap stops the answer
    stopped = run_cli(capsys, "ask", question, "--model", "offline")
    assert stopped.code == 1
    lines = stopped.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Stopped before the next step")
    assert "max_model_calls_per_run" in lines[0] or "model call" in lines[0]
    as_json = run_cli(capsys, "ask", question, "--model", "offline", "--json")
    assert as_json.code == 1 and as_json.json()["stopped"] == "max_model_calls_per_run"
    assert as_json.err.startswith("error: Stopped before the next step")
