"""Hostile text never pings, mentions or links: `escape` and `from_markdown` on their own, then a
ticket title, a model answer and a reject reason carrying `<!channel>`, a masked phishing link and
a mention, through signed requests to the real app, checked in everything the Web API double got."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from agent.slack.mrkdwn import escape, from_markdown
from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock, call, scripted
from tests.helpers.slack import APPROVALS, Harness

HOSTILE = "<!channel> EC2 & RDS spike <https://evil.example/login|Re-auth here> <@U0EVIL> <!here>"
# What must never reach Slack unescaped: a special mention, a link or a user mention it did not
# write (the app's own `<@U0APPROVER>`-style mentions of deciders are allowed).
RAW = re.compile(r"<(?:!channel|!here|!everyone|https?://|mailto:|@U0EVIL)")


def test_escape_replaces_exactly_the_three_control_characters() -> None:
    assert escape(HOSTILE) == (
        "&lt;!channel&gt; EC2 &amp; RDS spike &lt;https://evil.example/login|Re-auth here&gt; "
        "&lt;@U0EVIL&gt; &lt;!here&gt;"
    )
    assert escape("*bold* _it_ `code` ~s~ :emoji: 100% \"q\" 'a'") == (
        "*bold* _it_ `code` ~s~ :emoji: 100% \"q\" 'a'"
    )
    assert escape("tab\there\nnext\r\nline\x00\x1b[31m\x7f") == "tab\there\nnext\nline[31m"


def test_escape_is_idempotent_and_entities_typed_by_users_stay_text() -> None:
    once = escape(HOSTILE)
    assert escape(once) == once
    assert escape("&lt;!channel&gt; &amp;amp; &copy; &#60;") == (
        "&lt;!channel&gt; &amp;amp; &amp;copy; &amp;#60;"
    )


@given(st.text(max_size=300))
def test_escaped_text_never_holds_a_control_sequence(text: str) -> None:
    for out in (escape(text), from_markdown(text)):
        assert "<" not in out and ">" not in out
        assert re.search(r"&(?!(?:amp|lt|gt);)", out) is None
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)


def test_from_markdown_converts_model_markdown_to_mrkdwn() -> None:
    text = (
        "# Top **spend**\n"
        "**EC2** grew, *mostly* in ~~us-east-1~~ eu-west-1; see [the bill](https://x.example/b)\n"
        "- one\n* two\n\n"
        "| service | cost |\n|---|---:|\n| EC2 & co | 1 |\n| S3 | 200 |\n"
        "```python\n**not bold** <b>\n```\n"
        "done <!channel>"
    )
    assert from_markdown(text).split("\n") == [
        "*Top spend*",
        "*EC2* grew, _mostly_ in ~us-east-1~ eu-west-1; see the bill (https://x.example/b)",
        "• one",
        "• two",
        "",
        "```",
        "service   cost",
        "EC2 &amp; co  1",
        "S3        200",
        "```",
        "```",
        "**not bold** &lt;b&gt;",
        "```",
        "done &lt;!channel&gt;",
    ]
    assert from_markdown("__b__ my__var__x **a__ 2*3*4") == "*b* my__var__x **a__ 2*3*4"


# -- through the app ---------------------------------------------------------------------------


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def h(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    ticket = {"title": f"payments: {HOSTILE}", "owner": "payments", "priority": "low"}
    model = scripted(call("open_ticket", ticket), AIMessage(f"Proposed a ticket. {HOSTILE}"))
    harness = Harness(tmp_path / "home", double, Clock(), [model])
    yield harness
    harness.close()


def _sent(double: SlackDouble) -> list[str]:
    """Every text and block payload the app sent to Slack (Web API and response_url)."""
    out = []
    for c in double.calls:
        if c.method.startswith(("chat.", "views.")):
            out.append(json.dumps({k: c.args.get(k) for k in ("text", "blocks", "view")}))
    return out + [json.dumps(r) for r in double.responses]


def test_hostile_ticket_title_and_reject_reason_reach_slack_escaped(
    h: Harness, double: SlackDouble
) -> None:
    h.mention(f"open a ticket for payments: {HOSTILE}", user="U0ANALYST", ts="10.000100")
    h.idle()
    card = h.cards()[0]
    assert card["channel"] == APPROVALS
    assert "&lt;!channel&gt;" in card["text"] and "&lt;!channel&gt;" in json.dumps(card["blocks"])
    h.click("U0APPROVER", "finops_reject", card)
    h.idle()
    view = double.of("views.open")[0]["view"]
    h.submit_reason("U0APPROVER", view, f"no {HOSTILE}")
    h.idle()
    assert h.rt.ledger.get(h.rt.ledger.proposals()[0].id).status == "rejected"
    final = json.dumps(h.updates(card["ts"])[-1]["blocks"])
    assert "Rejected by <@U0APPROVER>: no &lt;!channel&gt; EC2 &amp;amp; RDS" not in final
    assert "Rejected by <@U0APPROVER>: no &lt;!channel&gt; EC2 &amp; RDS spike" in final
    sent = _sent(double)
    assert sent and not [s for s in sent if RAW.search(s)], [s for s in sent if RAW.search(s)]
    assert double.rejected == []
