"""Ticket backends: local, Jira Cloud and GitHub Issues (HTTP doubles on 127.0.0.1 that check
request shapes), one ticket per finding, updates on decisions / executions / rollbacks posted
once, a tracker outage that never breaks an approval, and secrets kept out of every record."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal, ProposalDraft
from tests.doubles.github import GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.helpers.agent import Clock, make_app
from tests.helpers.cli import run_cli
from tools.catalog import registry as default_registry
from tools.context import ToolContext
from tools.invoke import invoke_tool
from tools.registry import ActionSpec, ToolRegistry
from tools.tickets.backends import dedup_label
from tools.tickets.jira import adf
from tools.tickets.sync import sync_tickets
from warehouse.errors import ConfigError

JIRA_TOKEN = "jira-token-0123456789"
GH_TOKEN = "ghp_double_token_0123456789"
ENV = {"T_JIRA_EMAIL": "bot@example.com", "T_JIRA_TOKEN": JIRA_TOKEN, "T_GH_TOKEN": GH_TOKEN}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


@pytest.fixture
def jira() -> Iterator[JiraDouble]:
    with JiraDouble(token=JIRA_TOKEN) as double:
        yield double


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=GH_TOKEN) as double:
        yield double


def jira_config(url: str) -> dict[str, Any]:
    return {
        "backend": "jira",
        "jira": {"base_url": url, "project": "FIN", "email_env": "T_JIRA_EMAIL",
                 "token_env": "T_JIRA_TOKEN"},
        "routes": {"payments": {"project": "PAY", "labels": ["payments"]}},
    }  # fmt: skip


def github_config(url: str) -> dict[str, Any]:
    return {
        "backend": "github",
        "github": {"base_url": url, "repo": "acme/finops", "token_env": "T_GH_TOKEN"},
        "routes": {"payments": {"repo": "acme/payments", "assignees": ["pay-oncall"]}},
    }


def _registry() -> ToolRegistry:
    """The product registry plus `set_flag`, a stand-in action whose proposals tickets track."""

    def execute(ctx: ToolContext, p: Proposal) -> dict[str, Any]:
        if p.params.get("fail"):
            raise RuntimeError("the flag service said no")
        return {"flag": p.target, "value": p.params["value"], "rollback": {"value": "off"}}

    reg = ToolRegistry(
        tools=dict(default_registry().tools), actions=dict(default_registry().actions)
    )
    reg.actions["set_flag"] = ActionSpec("set_flag", lambda c, p: None, execute, ())
    return reg


def runtime(home: Path, clock: Clock, tickets: dict[str, Any] | None = None) -> Runtime:
    app = make_app(home, approvers=["alice", "bob"], tickets=tickets or {})
    return Runtime(app, clock=clock, environ=os.environ, registry=_registry())


def flag(rt: Runtime, **params: Any) -> str:
    """A pending `set_flag` proposal owned by payments (what a ticket follows)."""
    draft = ProposalDraft(
        action="set_flag", target="flags/checkout", params={"value": "on", **params},
        summary="Turn the checkout flag on", evidence={"cpu_p95": 1.5}, rollback="Turn it off",
        owner="payments", expected_monthly_saving=Decimal("61.32"),
    )  # fmt: skip
    p = rt.ledger.propose(draft, created_by="tester")
    rt.start_action(p)
    return p.id


def ticket(rt: Runtime, **args: Any) -> str:
    """Propose `open_ticket` through the tool (as the agent or the sweep would)."""
    base = {"title": "Idle checkout capacity", "body": "CPU under 2% for 14 days.", **args}
    out = invoke_tool(
        rt.registry, rt.tool_context("tester", None), "open_ticket", base,
        on_proposal=rt.start_action,
    )  # fmt: skip
    assert out.ok and out.proposal_id, out.error
    return out.proposal_id


def audit_text(rt: Runtime) -> str:
    return json.dumps([e.model_dump(mode="json") for e in rt.audit.entries()])


def link_row(rt: Runtime) -> dict[str, Any]:
    rows = rt.store.query("SELECT * FROM ticket_links")
    assert len(rows) == 1
    return dict(rows[0])


def test_local_backend_opens_after_approval_and_follows_the_proposal(
    tmp_path: Path, clock: Clock
) -> None:
    rt = runtime(tmp_path / "h", clock)
    pid = flag(rt)
    tid = ticket(rt, finding_id="opt-1a2b3c4d5e6f", proposal_id=pid)
    assert not rt.store.query("SELECT * FROM tickets")  # nothing before approval
    done = rt.approve(tid, "alice").proposal
    assert done.status == "done" and done.result is not None
    assert (done.result["ticket_id"], done.result["backend"], done.result["key"]) == (
        1,
        "local",
        "1",
    )
    link = link_row(rt)
    assert (link["dedup_key"], link["finding_id"]) == (
        "finding:opt-1a2b3c4d5e6f",
        "opt-1a2b3c4d5e6f",
    )
    assert rt.store.query("SELECT owner FROM tickets")[0][0] == "payments"  # from the proposal
    clock.advance(minutes=5)
    assert rt.approve(pid, "bob").proposal.status == "done"
    comments = [r["body"] for r in rt.store.query("SELECT body FROM ticket_comments ORDER BY id")]
    assert len(comments) == 2
    assert comments[0].startswith(f"Proposal {pid} approved by bob at 2026-11-28 12:05 UTC")
    assert comments[1].startswith(f"Proposal {pid} executed") and '"value": "on"' in comments[1]
    assert rt.store.query("SELECT status FROM tickets")[0][0] == "closed"  # done is in close_on
    again = sync_tickets(rt.tool_context("t", None))
    assert (again.comments, again.closed, again.errors) == (0, [], [])
    assert len(rt.store.query("SELECT * FROM ticket_comments")) == 2
    rt.close()


def test_jira_issue_created_only_after_approval_with_routing_and_adf(
    tmp_path: Path, clock: Clock, env: dict[str, str], jira: JiraDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    pid = flag(rt)
    tid = ticket(rt, finding_id="opt-1a2b3c4d5e6f", proposal_id=pid, priority="high")
    assert jira.requests == []  # proposing writes nothing
    result = rt.approve(tid, "alice").proposal.result or {}
    assert (result["key"], result["url"]) == ("PAY-1", f"{jira.url}/browse/PAY-1")
    label = dedup_label("finding:opt-1a2b3c4d5e6f")
    assert [r.method for r in jira.requests] == ["GET", "POST"]  # dedup search, then create
    fields = jira.issues["PAY-1"]["fields"]
    assert fields["labels"] == ["finops", "payments", label]
    assert (fields["priority"], fields["issuetype"]) == ({"name": "High"}, {"name": "Task"})
    text = json.dumps(fields["description"])
    assert f"finops proposals show {pid}" in text and "USD 61.32 a month" in text
    assert "cpu_p95: 1.5" in text
    assert jira.requests[1].headers["content-type"] == "application/json"
    rt.close()


def test_jira_comments_on_approve_execute_and_rollback_once_each(
    tmp_path: Path, clock: Clock, env: dict[str, str], jira: JiraDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    pid = flag(rt)
    rt.approve(ticket(rt, proposal_id=pid, owner="data"), "alice")
    assert list(jira.issues) == ["FIN-1"]  # owner without a route: default project
    rt.approve(pid, "bob")
    texts = jira.comment_texts("FIN-1")
    assert [t.split(" ")[2] for t in texts] == ["approved", "executed"]
    assert jira.issues["FIN-1"]["status"] == "Done"  # closed through the Done transition
    assert jira.calls("POST", r"/rest/api/3/issue/FIN-1/transitions")[0].body == {
        "transition": {"id": "31"}
    }
    back = rt.ledger.propose(
        ProposalDraft(action="set_flag", target="flags/checkout",
                      params={"value": "off", "rollback_of": pid}, summary="Roll back",
                      rollback="Turn it on"),
        created_by="tester",
    )  # fmt: skip
    rt.start_action(back)
    rt.approve(back.id, "alice")
    texts = jira.comment_texts("FIN-1")
    assert len(texts) == 3 and texts[2].startswith(f"Proposal {pid} rolled back by {back.id}")
    before = len(jira.requests)
    report = sync_tickets(rt.tool_context("t", None))
    assert report.comments == 0 and len(jira.requests) == before  # nothing new to post
    rt.close()


def test_github_issue_opened_then_rejection_posted_and_closed(
    tmp_path: Path, clock: Clock, env: dict[str, str], github: GitHubDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, github_config(github.url))
    pid = flag(rt)
    result = rt.approve(ticket(rt, proposal_id=pid), "alice").proposal.result or {}
    assert (result["key"], result["url"]) == (
        "acme/payments#1",
        "https://github.com/acme/payments/issues/1",
    )
    issue = github.issues["acme/payments"][0]
    assert [a["login"] for a in issue["assignees"]] == ["pay-oncall"]
    assert f"finops proposals show {pid}" in issue["body"]
    rt.reject(pid, "bob", "not before the freeze")
    assert github.comments["acme/payments#1"] == [
        f"Proposal {pid} rejected by bob at 2026-11-28 12:00 UTC: not before the freeze."
    ]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    before = len(github.requests)
    assert sync_tickets(rt.tool_context("t", None)).comments == 0
    assert len(github.requests) == before
    rt.close()


def test_one_ticket_per_finding_refused_or_linked(
    tmp_path: Path, clock: Clock, env: dict[str, str], jira: JiraDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    first, second = ticket(rt, finding_id="opt-aaa"), ticket(rt, finding_id="opt-aaa")
    assert rt.approve(first, "alice").proposal.status == "done"
    p = rt.approve(second, "alice").proposal  # a race of two pending proposals
    assert p.status == "failed" and "already tracks opt-aaa" in (p.result or {})["error"]
    out = invoke_tool(rt.registry, rt.tool_context("t", None), "open_ticket",
                      {"title": "Idle checkout", "finding_id": "opt-aaa"})  # fmt: skip
    assert not out.ok and "ticket FIN-1 already tracks opt-aaa" in (out.error or "")
    pid = flag(rt)
    linked = rt.approve(ticket(rt, finding_id="opt-aaa", proposal_id=pid), "alice").proposal
    assert linked.status == "done" and (linked.result or {})["linked"] == pid
    assert list(jira.issues) == ["FIN-1"]  # still one issue
    rt.approve(pid, "bob")
    assert len(jira.comment_texts("FIN-1")) == 2
    rt.close()


def test_tracker_down_never_breaks_approval_and_is_retried(
    tmp_path: Path, clock: Clock, env: dict[str, str], jira: JiraDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    pid = flag(rt)
    tid = ticket(rt, proposal_id=pid, owner="data")
    jira.available = False
    p = rt.approve(tid, "alice").proposal
    assert p.status == "done" and "HTTP 503" in (p.result or {})["pending"]
    assert rt.approve(pid, "bob").proposal.status == "done"  # the execution is unaffected
    link = link_row(rt)
    assert link["external_key"] is None and link["attempts"] >= 2
    assert "HTTP 503" in link["last_error"] and jira.issues == {}
    jira.available = True
    report = sync_tickets(rt.tool_context("t", None))
    assert (report.created, report.comments, report.closed) == (["FIN-1"], 2, ["FIN-1"])
    assert link_row(rt)["last_error"] is None
    again = sync_tickets(rt.tool_context("t", None))
    assert (again.created, again.comments, again.closed) == ([], 0, [])
    assert len(jira.issues) == 1
    rt.close()


def test_lost_answer_is_found_by_label_not_filed_twice(
    tmp_path: Path, clock: Clock, env: dict[str, str], jira: JiraDouble
) -> None:
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    tid = ticket(rt, owner="data")
    rt.approve(tid, "alice")
    key = link_row(rt)["dedup_key"]
    rt.store.conn.execute(
        "UPDATE ticket_links SET external_key = NULL"
    )  # as if the answer was lost
    assert sync_tickets(rt.tool_context("t", None)).created == ["FIN-1"]  # found by its label
    assert len(jira.issues) == 1 and link_row(rt)["dedup_key"] == key
    rt.close()


def test_tokens_never_in_audit_logs_errors_or_results(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, jira: JiraDouble,
    github: GitHubDouble, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    wrong = "wrong-token-9876543210"
    monkeypatch.setenv("T_JIRA_EMAIL", "bot@example.com")
    monkeypatch.setenv("T_JIRA_TOKEN", wrong)
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    caplog.set_level(logging.DEBUG)
    p = rt.approve(ticket(rt, owner="data"), "alice").proposal
    assert "HTTP 401" in (p.result or {})["pending"]
    assert "HTTP 401" in link_row(rt)["last_error"]
    report = sync_tickets(rt.tool_context("t", None))
    assert report.errors and "not authenticated" in report.errors[0]
    records = [audit_text(rt), caplog.text, json.dumps(p.result), json.dumps(link_row(rt))]
    assert all(wrong not in text for text in records) and "HTTP 401" in caplog.text
    rt.close()
    monkeypatch.setenv("T_GH_TOKEN", GH_TOKEN)
    ok = runtime(tmp_path / "g", clock, github_config(github.url))
    ok.approve(ticket(ok, owner="data"), "alice")
    assert github.issues["acme/finops"] and GH_TOKEN not in audit_text(ok) + caplog.text
    ok.close()


def test_missing_credentials_refused_before_anything_is_filed(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, jira: JiraDouble
) -> None:
    monkeypatch.delenv("T_JIRA_TOKEN", raising=False)
    monkeypatch.setenv("T_JIRA_EMAIL", "bot@example.com")
    rt = runtime(tmp_path / "h", clock, jira_config(jira.url))
    p = rt.approve(ticket(rt), "alice").proposal
    assert p.status == "failed"
    assert (
        "tickets.jira.token_env names T_JIRA_TOKEN, which is not set" in (p.result or {})["error"]
    )
    assert jira.requests == [] and not rt.store.query("SELECT * FROM tickets")
    rt.close()


@pytest.mark.parametrize(
    ("tickets", "message"),
    [
        ({"backend": "jira"}, "add tickets.jira (base_url, project)"),
        ({"backend": "github", "github": {"repo": "not a repo"}}, "owner/name"),
        ({"backend": "jira", "jira": {"base_url": "https://x.atlassian.net", "project": "FIN",
                                      "token_env": "ATATT3xFfGF0abc-def"}}, "NAME of an env"),
        ({"backend": "jira", "jira": {"base_url": "ftp://x", "project": "FIN"}}, "http(s) URL"),
        ({"backend": "servicenow"}, "backend"),
        ({"labels": ["has space"]}, "labels cannot contain spaces"),
        ({"close_on": ["closed"]}, "close_on"),
        ({"routes": {"pay": {"projekt": "PAY"}}}, "projekt"),
    ],
)  # fmt: skip
def test_bad_ticket_config_is_a_clear_error(tickets: dict[str, Any], message: str) -> None:
    from agent.config import parse_config

    with pytest.raises(ConfigError) as err:
        parse_config({"tickets": tickets})
    assert "tickets" in str(err.value) and message in str(err.value)


def test_doubles_check_request_shapes(jira: JiraDouble, github: GitHubDouble) -> None:
    auth = httpx.BasicAuth("bot@example.com", JIRA_TOKEN)
    fields = {"project": {"key": "FIN"}, "summary": "S", "issuetype": {"name": "Task"},
              "description": adf("hello\nworld")}  # fmt: skip
    with httpx.Client(base_url=jira.url) as c:
        assert c.post("/rest/api/3/issue", json={"fields": fields}).status_code == 401
        bad = {**fields, "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}}  # fmt: skip
        r = c.post("/rest/api/3/issue", json={"fields": bad}, auth=auth)
        assert r.status_code == 400 and "description" in r.json()["errors"]
        r = c.post("/rest/api/3/issue", json={"fields": fields}, auth=auth)
        assert r.status_code == 201 and set(r.json()) == {"id", "key", "self"}
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    with httpx.Client(base_url=github.url, headers=headers) as c:
        assert c.post("/repos/acme/finops/issues", json={"title": "t"}).status_code == 401
        c.headers["Authorization"] = f"Bearer {GH_TOKEN}"
        assert c.post("/repos/acme/finops/issues", content=b"{oops",
                      headers={"Content-Type": "application/json"}).status_code == 400  # fmt: skip
        assert c.post("/repos/acme/finops/issues", json={"body": "x"}).status_code == 422
        del c.headers["X-GitHub-Api-Version"]
        assert c.post("/repos/acme/finops/issues", json={"title": "t"}).status_code == 400


def test_adf_paragraphs_and_breaks() -> None:
    doc = adf("one\ntwo\n\n\nthree")
    assert doc["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "one"}, {"type": "hardBreak"},
                                          {"type": "text", "text": "two"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "three"}]},
    ]  # fmt: skip
    assert adf("")["content"] == [{"type": "paragraph"}]


def test_cli_tickets_sync_retries_and_lists_the_tracker_key(
    tmp_path: Path,
    clock: Clock,
    env: dict[str, str],
    jira: JiraDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    rt = runtime(home, clock, jira_config(jira.url))
    (home / "finops.yaml").write_text(
        yaml.safe_dump({"approvers": ["alice"], "tickets": jira_config(jira.url)})
    )
    monkeypatch.setenv("FINOPS_HOME", str(home))
    jira.available = False
    rt.approve(ticket(rt, owner="data"), "alice")
    rt.close()
    failed = run_cli(capsys, "tickets", "sync", "--json")
    assert failed.code == 1 and "HTTP 503" in failed.json()["errors"][0]
    jira.available = True
    first = run_cli(capsys, "tickets", "sync", "--json")
    assert first.code == 0 and first.json()["created"] == ["FIN-1"]
    assert run_cli(capsys, "tickets", "sync", "--json").json()["created"] == []
    listed = run_cli(capsys, "tickets", "--json").json()["tickets"]
    assert [(t["id"], t["external_key"], t["url"]) for t in listed] == [
        (1, "FIN-1", f"{jira.url}/browse/FIN-1")
    ]
    assert "FIN-1" in run_cli(capsys, "tickets").out
