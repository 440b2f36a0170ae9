"""Approval cards over real protocols: posted once per proposal (whoever proposed it), decided by
signed button clicks through the ledger, updated with who decided and the execution result;
refusals are ephemeral and audited, and double clicks, expiry and stale cards run nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from guardrails.approvals import ProposalDraft
from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock, call, scripted
from tests.helpers.slack import APPROVALS, Harness

TICKET = {"title": "Idle EC2 in payments-prod", "owner": "payments", "priority": "low"}


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def h(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    model = scripted(call("open_ticket", TICKET), AIMessage("Proposed a ticket."))
    harness = Harness(tmp_path / "home", double, Clock(), [model])
    yield harness
    harness.close()


def _tickets(h: Harness) -> int:
    return int(h.rt.store.query("SELECT count(*) FROM tickets")[0][0])


def _proposed_by_chat(h: Harness) -> tuple[str, dict[str, Any]]:
    h.mention("open a ticket for the idle EC2", user="U0ANALYST", ts="10.000100")
    h.idle()
    cards = h.cards()
    assert len(cards) == 1
    pid = h.rt.ledger.proposals()[0].id
    return pid, cards[0]


def _card_texts(h: Harness, card: dict[str, Any]) -> list[str]:
    return [json.dumps(u["blocks"]) for u in h.updates(card["ts"])]


def _ephemerals(double: SlackDouble, user: str) -> list[str]:
    return [e["text"] for e in double.of("chat.postEphemeral") if e["user"] == user]


def test_chat_proposal_gets_a_card_with_everything_an_approver_needs(h: Harness) -> None:
    pid, card = _proposed_by_chat(h)
    text = json.dumps(card["blocks"])
    p = h.rt.ledger.get(pid)
    for part in (pid, "open_ticket", p.target, "Rollback", "Evidence", "Risk", "Expires",
                 "Approve", "Reject", p.action_hash[:16], "USD 0.00"):  # fmt: skip
        assert part in text, part
    assert card["channel"] == APPROVALS
    assert h.app.post_pending_cards() == []  # the outbox posts each card once


def test_approve_executes_once_and_updates_the_card(h: Harness, double: SlackDouble) -> None:
    pid, card = _proposed_by_chat(h)
    response = h.click("U0APPROVER", "finops_approve", card)
    assert response.status_code == 200
    h.idle()
    assert h.rt.ledger.get(pid).status == "done"
    assert _tickets(h) == 1
    texts = _card_texts(h, card)
    assert "Approved by <@U0APPROVER>; executing" in texts[0]
    assert "executed" in texts[-1] and "Result" in texts[-1]
    assert "finops_approve" not in texts[-1]  # buttons gone
    h.click("U0APPROVER", "finops_approve", card)  # double click
    h.click("U0ADMIN", "finops_approve", card)
    h.idle()
    assert _tickets(h) == 1
    assert any("already" in t for t in _ephemerals(double, "U0APPROVER"))


def test_concurrent_clicks_execute_once(h: Harness) -> None:
    pid, card = _proposed_by_chat(h)
    for user in ("U0APPROVER", "U0ADMIN", "U0APPROVER"):
        assert h.click(user, "finops_approve", card).status_code == 200
    h.idle()
    assert _tickets(h) == 1
    assert h.rt.ledger.get(pid).status == "done"
    executions = [e for e in h.rt.audit.entries(kind="execution_start")]
    assert len(executions) == 1


def test_reject_asks_a_reason_in_a_modal_and_runs_nothing(h: Harness, double: SlackDouble) -> None:
    pid, card = _proposed_by_chat(h)
    h.click("U0APPROVER", "finops_reject", card)
    h.idle()
    opened = double.of("views.open")
    assert len(opened) == 1 and opened[0]["trigger_id"].startswith("trigger-U0APPROVER")
    assert h.rt.ledger.get(pid).status == "pending"  # nothing decided by the click alone
    response = h.submit_reason("U0APPROVER", opened[0]["view"], "not during the freeze")
    assert response.status_code == 200
    h.idle()
    p = h.rt.ledger.get(pid)
    assert p.status == "rejected" and p.reason == "not during the freeze"
    assert _tickets(h) == 0
    assert "Rejected by <@U0APPROVER>: not during the freeze" in _card_texts(h, card)[-1]


@pytest.mark.parametrize("user", ["U0ANALYST", "U0PAYVIEW", "U0STRANGER"])
def test_click_by_someone_not_allowed_is_refused_and_changes_nothing(
    h: Harness, double: SlackDouble, user: str
) -> None:
    pid, card = _proposed_by_chat(h)
    for action in ("finops_approve", "finops_reject"):
        assert h.click(user, action, card).status_code == 200
    h.idle()
    assert h.rt.ledger.get(pid).status == "pending" and _tickets(h) == 0
    assert double.of("views.open") == [] and h.updates(card["ts"]) == []
    assert len(_ephemerals(double, user)) == 2
    refusals = [e for e in h.rt.audit.entries(kind="refusal") if e.actor == user]
    assert len(refusals) == 2 and refusals[0].payload["code"] == "not_allowed"


def test_expired_proposal_card_says_so_and_nothing_runs(h: Harness, double: SlackDouble) -> None:
    pid, card = _proposed_by_chat(h)
    h.clock.advance(hours=73)
    h.click("U0APPROVER", "finops_approve", card)
    h.idle()
    assert h.rt.ledger.get(pid).status == "expired" and _tickets(h) == 0
    assert "Expired at" in _card_texts(h, card)[-1]
    assert any("expired" in t for t in _ephemerals(double, "U0APPROVER"))


def test_stale_card_is_marked_superseded(h: Harness, double: SlackDouble) -> None:
    pid, card = _proposed_by_chat(h)
    stale = json.loads(json.dumps(card))
    for block in stale["blocks"]:
        for element in block.get("elements", []):
            if "value" in element:
                element["value"] = json.dumps({"p": pid, "h": "0" * 64})
    h.click("U0APPROVER", "finops_approve", stale)
    h.idle()
    assert h.rt.ledger.get(pid).status == "pending" and _tickets(h) == 0
    assert "Superseded" in _card_texts(h, card)[-1]


def test_cli_proposal_gets_a_card_and_a_cli_decision_updates_it(h: Harness) -> None:
    draft = ProposalDraft(
        action="open_ticket",
        target="ticket:payments",
        params={**TICKET, "body": "from the CLI"},
        summary="Open a ticket from the CLI",
        rollback="Close the ticket.",
    )
    p = h.rt.ledger.propose(draft, created_by="cli")
    assert h.app.post_pending_cards() == [p.id]
    assert h.app.post_pending_cards() == []
    card = h.cards()[0]
    h.rt.reject(p.id, "U0ADMIN", "duplicate")
    assert h.app.services and h.app.post_pending_cards() == []
    assert "Rejected by <@U0ADMIN>: duplicate" in _card_texts(h, card)[-1]


def test_two_person_rule_shows_the_first_approval(tmp_path: Path, double: SlackDouble) -> None:
    model = scripted(call("open_ticket", TICKET), AIMessage("Proposed."))
    approvals = {"two_person": ["open_ticket"]}
    h = Harness(tmp_path / "home", double, Clock(), [model], approvals=approvals)
    try:
        pid, card = _proposed_by_chat(h)
        h.click("U0APPROVER", "finops_approve", card)
        h.idle()
        assert h.rt.ledger.get(pid).status == "pending" and _tickets(h) == 0
        assert "1 of 2 approvals" in _card_texts(h, card)[-1]
        h.click("U0ADMIN", "finops_approve", card)
        h.idle()
        assert h.rt.ledger.get(pid).status == "done" and _tickets(h) == 1
    finally:
        h.close()
