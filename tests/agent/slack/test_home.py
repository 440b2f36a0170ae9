"""The App Home tab over real protocols: a signed `app_home_opened` event makes the app publish
(`views.publish` on the Web API double, which enforces Block Kit's limits) what the bot can do,
the user's pending approvals with the cards' buttons, their team's month-to-date spend and budgets
and their recent anomalies; Home clicks go through the same role and ledger checks as a card."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.slack.home import HOME_REJECT_MODAL_ID, MAX_HOME_BLOCKS
from guardrails.approvals import Proposal, ProposalDraft
from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock, scripted
from tests.helpers.slack import Harness, team_rows
from tests.helpers.slack_home import home_click_body, home_opened_body
from tools.anomalies.models import Anomaly
from tools.anomalies.store import AnomalyStore

TEAMS = {"team": {"sources": ["team"]}}
BUDGETS = [
    {"name": "payments-monthly", "scope": ["vtag:team=payments"], "amount": "12000"},
    {"name": "search-monthly", "scope": ["vtag:team=search"], "amount": "20000"},
]
HOSTILE = "EC2 & RDS <!channel> <https://evil.example/login|Re-auth here>"


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


def _harness(tmp_path: Path, double: SlackDouble, **slack: Any) -> Harness:
    home = tmp_path / "home"
    h = Harness(home, double, Clock(), [scripted(AIMessage("hi"))], virtual_tags=TEAMS,
                budgets=BUDGETS, slack=slack)  # fmt: skip
    team_rows(home)
    return h


@pytest.fixture
def h(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    harness = _harness(tmp_path, double, owner_channels={"payments": "U0APPROVER"})
    yield harness
    harness.close()


def _propose(h: Harness, summary: str = "Open a ticket for idle EC2", n: int = 0) -> Proposal:
    draft = ProposalDraft(
        action="open_ticket",
        target=f"ticket:payments-{n}",
        params={"title": f"Idle EC2 {n}", "owner": "payments", "priority": "low", "body": "b"},
        summary=summary,
        rollback="Close the ticket.",
        owner="payments",
    )
    return h.rt.ledger.propose(draft, created_by="sweep")


def _anomaly(h: Harness, owner: str, resource: str) -> None:
    a = Anomaly(id=f"an-{resource}", series={"ResourceId": resource}, direction="up",
                start_day=date(2026, 11, 9), end_day=date(2026, 11, 10), days=2,
                counted_days=[date(2026, 11, 9), date(2026, 11, 10)], expected=Decimal(100),
                actual=Decimal(900), impact=Decimal(800), impact_percent=Decimal(800), score=9.0,
                threshold=3.0, level=Decimal(450), status="open", currency="USD",
                metric="billed", owner=owner)  # fmt: skip
    with h.rt.store.transaction() as conn:
        AnomalyStore(h.rt.store).save(conn, a, datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


def _open_home(h: Harness, user: str, event_id: str) -> dict[str, Any]:
    """Send a signed `app_home_opened`; the Home view published for `user` in answer."""
    before = len(h.double.of("views.publish"))
    response = h.post(home_opened_body(user, event_id), "json")
    assert response.status_code == 200
    h.idle()
    return _last_home(h, user, before)


def _last_home(h: Harness, user: str, before: int = 0) -> dict[str, Any]:
    published = [c for c in h.double.of("views.publish")[before:] if c["user_id"] == user]
    assert published, f"no Home view published for {user}"
    view: dict[str, Any] = published[-1]["view"]
    assert view["type"] == "home"
    assert h.double.rejected == [], h.double.rejected  # Slack accepted every call
    return view


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def _button(view: dict[str, Any], action_id: str, pid: str) -> str:
    for block in view["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == action_id and json.loads(element["value"])["p"] == pid:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button for {pid}")


def _click(h: Harness, user: str, view: dict[str, Any], action_id: str, value: str) -> None:
    response = h.post(home_click_body(user, view, action_id, value), "form")
    assert response.status_code == 200 and response.text == ""
    h.idle()


def _tickets(h: Harness) -> int:
    return int(h.rt.store.query("SELECT count(*) FROM tickets")[0][0])


def test_home_shows_commands_approvals_spend_budgets_and_anomalies(h: Harness) -> None:
    p = _propose(h)
    _anomaly(h, "payments", "i-payments-1")
    _anomaly(h, "search", "i-search-1")
    view = _open_home(h, "U0ADMIN", "EvHome1")
    text = _text(view)
    for part in ("/finops spend", "/finops budgets", "What did we spend on EC2", p.id,
                 "USD 30,000.00", "company-wide", "No team is mapped", "payments-monthly",
                 "search-monthly", "an-i-payments-1", "an-i-search-1"):  # fmt: skip
        assert part in text, part
    assert "USD 40,000.00" in text  # company month to date: Nov 1..10 of both teams
    value = _button(view, "finops_approve", p.id)
    assert json.loads(value) == {"p": p.id, "h": p.action_hash}
    assert _button(view, "finops_reject", p.id) == value  # the cards' buttons and value


def test_team_mapping_limits_spend_budgets_and_anomalies_to_the_team(h: Harness) -> None:
    _propose(h)
    _anomaly(h, "payments", "i-payments-1")
    _anomaly(h, "search", "i-search-1")
    mine = _text(_open_home(h, "U0APPROVER", "EvHome2"))  # owner_channels: payments → U0APPROVER
    assert "*payments*: USD 10,000.00" in mine and "vtag:team=payments" in mine
    assert "payments-monthly" in mine and "an-i-payments-1" in mine
    assert "search-monthly" not in mine and "an-i-search-1" not in mine
    assert "USD 40,000.00" not in mine

    viewer = _text(_open_home(h, "U0PAYVIEW", "EvHome3"))  # scoped viewer: payments only
    assert "USD 10,000.00" in viewer and "an-i-payments-1" in viewer
    assert "search-monthly" not in viewer and "an-i-search-1" not in viewer
    assert "finops_approve" not in viewer and "pending approvals" not in viewer

    stranger = _text(_open_home(h, "U0NOBODY", "EvHome4"))
    assert "no FinOps role" in stranger and "USD" not in stranger


def test_non_approver_click_is_refused_privately_and_approver_approves_once(
    h: Harness, double: SlackDouble
) -> None:
    p = _propose(h)
    assert p.id in h.app.post_pending_cards()
    card_ts = h.cards()[0]["ts"]  # the approvals channel's card
    posts = len(double.of("chat.postMessage"))
    view = _open_home(h, "U0APPROVER", "EvHome5")
    value = _button(view, "finops_approve", p.id)

    # U0ANALYST is on the ledger's allow-list but has no approver role in Slack
    _click(h, "U0ANALYST", view, "finops_approve", value)
    assert h.rt.ledger.get(p.id).status == "pending" and _tickets(h) == 0
    refusal = _text(_last_home(h, "U0ANALYST"))
    assert "not an approver for `open_ticket`" in refusal
    assert len(double.of("chat.postMessage")) == posts and double.of("chat.update") == []
    assert double.of("chat.postEphemeral") == []  # nothing in a channel: only their Home
    refusals = [(e.actor, e.payload["code"]) for e in h.rt.audit.entries(kind="refusal")]
    assert refusals == [("U0ANALYST", "not_allowed")]

    _click(h, "U0APPROVER", view, "finops_approve", value)
    assert h.rt.ledger.get(p.id).status == "done" and _tickets(h) == 1
    after = _text(_last_home(h, "U0APPROVER"))
    assert f"{p.id} approved by you: done" in after and "finops_approve" not in after
    card = json.dumps(h.updates(card_ts)[-1]["blocks"])
    assert "<@U0APPROVER>" in card and "executed" in card  # the channel card follows

    _click(h, "U0APPROVER", view, "finops_approve", value)  # a second click on the old view
    assert _tickets(h) == 1
    assert "Not recorded" in _text(_last_home(h, "U0APPROVER"))


def test_reject_from_home_asks_a_reason_then_rejects(h: Harness, double: SlackDouble) -> None:
    p = _propose(h)
    view = _open_home(h, "U0ADMIN", "EvHome6")
    _click(h, "U0ADMIN", view, "finops_reject", _button(view, "finops_reject", p.id))
    modal = double.of("views.open")[-1]["view"]
    assert (
        modal["callback_id"] == HOME_REJECT_MODAL_ID and h.rt.ledger.get(p.id).status == "pending"
    )
    response = h.submit_reason("U0ADMIN", modal, "not now <!here>")
    assert response.status_code == 200
    h.idle()
    rejected = h.rt.ledger.get(p.id)
    assert rejected.status == "rejected" and rejected.reason == "not now <!here>"
    assert _tickets(h) == 0
    assert f"{p.id} rejected by you" in _text(_last_home(h, "U0ADMIN"))


def test_many_proposals_and_hostile_text_stay_within_block_kit_limits(h: Harness) -> None:
    for n in range(149):
        _propose(h, summary=f"Ticket {n}", n=n)
    h.clock.advance(seconds=1)  # the newest, so it is among those shown
    _propose(h, summary=f"{HOSTILE} {'x' * 3000}", n=149)
    view = _open_home(h, "U0ADMIN", "EvHome7")  # the double refuses a view over its limits
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    text = _text(view)
    assert "…and 130 more" in text and "/finops proposals --status pending" in text
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "EC2 &amp; RDS &lt;!channel&gt; &lt;https://evil.example/login|Re-auth here&gt;" in text


def test_home_on_an_empty_warehouse_says_so(tmp_path: Path, double: SlackDouble) -> None:
    h = Harness(tmp_path / "home", double, Clock(), [scripted(AIMessage("hi"))])
    try:
        text = _text(_open_home(h, "U0ADMIN", "EvHome8"))
        assert "Figures unavailable" in text and "warehouse is empty" in text
        assert "Nothing waits for your approval" in text
    finally:
        h.close()


def test_two_person_rule_holds_from_home(tmp_path: Path, double: SlackDouble) -> None:
    h = Harness(tmp_path / "home", double, Clock(), [scripted(AIMessage("hi"))],
                approvals={"two_person": ["open_ticket"]})  # fmt: skip
    try:
        p = _propose(h)
        first = _open_home(h, "U0ADMIN", "EvHome9")
        _click(h, "U0ADMIN", first, "finops_approve", _button(first, "finops_approve", p.id))
        assert h.rt.ledger.get(p.id).status == "pending" and _tickets(h) == 0
        mine = _text(_last_home(h, "U0ADMIN"))
        assert "needs a second approver" in mine and "finops_approve" not in mine
        second = _open_home(h, "U0APPROVER", "EvHome10")
        assert "1 of 2 approvals recorded" in _text(second)
        _click(h, "U0APPROVER", second, "finops_approve", _button(second, "finops_approve", p.id))
        assert h.rt.ledger.get(p.id).status == "done" and _tickets(h) == 1
    finally:
        h.close()
