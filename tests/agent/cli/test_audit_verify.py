"""`finops audit --verify` through the real CLI: the chain, its anchors and the ledger, one line
per problem and exit 1 (issue 18, point 11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrails.anchors import AnchorBook
from guardrails.approvals import Ledger, ProposalDraft
from guardrails.audit import AuditLog
from guardrails.settings import AuditConfig, GuardrailSettings
from tests.helpers.agent import Clock
from tests.helpers.cli import run_cli
from warehouse.state.store import StateStore

PREFIX = "error: audit log tampered: "


def make_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(yaml.safe_dump({"approvers": ["alice"], **config}))
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.delenv("FINOPS_AUDIT_KEY", raising=False)
    return home


def execute_one(
    home: Path, audit: AuditConfig | None = None, env: dict[str, str] | None = None
) -> str:
    """A proposal proposed, approved and executed through the ledger, with a few tool calls."""
    store = StateStore(home / "state.db")
    clock = Clock()
    log = AuditLog(store, clock, AnchorBook.for_store(store, audit, env or {}))
    for i in range(3):
        log.append("tool_call", "agent", {"i": i})
    ledger = Ledger(store, log, GuardrailSettings(approvers=["alice"]), clock)
    draft = ProposalDraft(action="stop_instance", target="i-1", summary="idle", rollback="start")
    pid = ledger.propose(draft, created_by="agent").id
    ledger.approve(pid, "alice")
    assert ledger.claim(pid, "cli") is not None and ledger.begin_attempt(pid)
    ledger.finish(pid, ok=True, result={"stopped": ["i-1"]})
    store.close()
    return pid


def sql(home: Path, statement: str) -> None:
    with sqlite3.connect(home / "state.db", isolation_level=None) as conn:
        conn.execute(statement)


def test_an_untouched_log_verifies_and_says_what_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = make_home(tmp_path, monkeypatch)
    execute_one(home)
    ok = run_cli(capsys, "audit", "--verify")
    assert ok.code == 0, ok.err
    assert "audit log OK: 7 entries" in ok.out
    assert f"anchored: 7 anchors in {home / 'audit-anchors.jsonl'}" in ok.out
    assert "ledger: 1 proposals have their audit entries" in ok.out
    doc = run_cli(capsys, "audit", "--verify", "--json").json()
    assert doc["ok"] is True and doc["problems"] == [] and doc["anchors"]["anchored_to"] == 7


def test_each_problem_is_one_line_and_the_exit_code_is_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = make_home(tmp_path, monkeypatch)
    pid = execute_one(home)
    sql(home, "DELETE FROM audit_log WHERE seq = 7")  # the execution entry, last in the chain
    bad = run_cli(capsys, "audit", "--verify")
    assert bad.code == 1 and bad.out == ""
    assert bad.err.splitlines() == [
        PREFIX + "entry 7 was cut off the end: the chain ends at entry 6 but entry 7 was "
        "anchored at 2026-11-28T12:00:00.000000+00:00 (anchor line 7)",
        PREFIX + f"proposal {pid} (done): no execution entry with status done in the audit log",
    ]


def test_json_lists_every_problem_with_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = make_home(tmp_path, monkeypatch)
    execute_one(home)
    sql(home, "DELETE FROM audit_log WHERE seq > 2")
    result = run_cli(capsys, "audit", "--verify", "--json")
    assert result.code == 1 and result.err.startswith(PREFIX) and len(result.err.splitlines()) == 1
    doc = result.json()
    assert doc["ok"] is False and doc["entries"] == 2
    assert [(p["code"], p["seq"]) for p in doc["problems"]][:1] == [("truncated", 3)]
    assert {p["code"] for p in doc["problems"]} == {"truncated", "ledger"}


def test_the_configured_anchor_file_and_key_variable_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "other-volume" / "anchors.jsonl"
    audit = {"anchors_path": str(anchors), "key_env": "MY_AUDIT_KEY"}
    home = make_home(tmp_path, monkeypatch, audit=audit)
    env = {"MY_AUDIT_KEY": "s" * 48}
    execute_one(home, AuditConfig.model_validate(audit), env)
    assert anchors.exists() and not (home / "audit-anchors.jsonl").exists()
    assert not (home / "audit.key").exists()
    monkeypatch.setenv("MY_AUDIT_KEY", env["MY_AUDIT_KEY"])
    ok = run_cli(capsys, "audit", "--verify")
    assert ok.code == 0 and f"anchored: 7 anchors in {anchors}" in ok.out
    assert "key $MY_AUDIT_KEY or" in ok.out
    monkeypatch.delenv("MY_AUDIT_KEY")
    closed = run_cli(capsys, "audit", "--verify")
    assert closed.code == 1
    assert closed.err.startswith(PREFIX + "the audit key ($MY_AUDIT_KEY or ")


def test_an_unknown_audit_key_in_the_config_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_home(tmp_path, monkeypatch, audit={"anchor_file": "x"})
    bad = run_cli(capsys, "audit", "--verify")
    assert bad.code == 1 and "unknown key 'audit.anchor_file'" in bad.err
    assert "anchors_path, key_env, key_file" in bad.err
