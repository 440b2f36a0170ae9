"""Request verification, token handling and `/finops` over real protocols.

Bad signatures and timestamps older than five minutes get 401 and change nothing; a wrong bot
token is refused by the Web API double like Slack does; tokens come from env or a secrets file and
never show in reprs; `/finops` answers with the CLI's figures and refuses what a role may not do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from slack_bolt.error import BoltError
from slack_sdk import WebClient

from agent.config import Config
from agent.slack.app import build_slack_app
from agent.slack.config import SlackConfig
from agent.slack.secrets import load_tokens
from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock, make_app, scripted
from tests.helpers.slack import Harness, team_rows
from tests.paths import ROOT
from warehouse.errors import ConfigError

TEAMS = {"team": {"sources": ["team"]}}


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def h(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    home = tmp_path / "home"
    harness = Harness(home, double, Clock(), [scripted(AIMessage("hi"))], virtual_tags=TEAMS)
    team_rows(home)
    yield harness
    harness.close()


def _nothing_happened(h: Harness, double: SlackDouble) -> None:
    h.idle()
    assert double.of("chat.postMessage") == [] and double.of("chat.update") == []
    assert h.model().seen == []


def test_bad_signature_is_refused(h: Harness, double: SlackDouble) -> None:
    event = {"type": "app_mention", "user": "U0ADMIN", "text": "<@UBOT> hi", "ts": "1.1",
             "channel": "C0CHAT"}  # fmt: skip
    from tests.doubles.slack import event_body

    response = h.post(event_body(event, "EvBad"), "json", secret="not-the-secret")
    assert response.status_code == 401
    _nothing_happened(h, double)


def test_old_timestamp_is_refused(h: Harness, double: SlackDouble) -> None:
    response = h.mention("hi", user="U0ADMIN", ts="1.2")
    h.idle()
    double.calls.clear()
    from tests.doubles.slack import event_body

    event = {"type": "app_mention", "user": "U0ADMIN", "text": "<@UBOT> again", "ts": "1.3",
             "channel": "C0CHAT"}  # fmt: skip
    old = h.post(event_body(event, "EvOld"), "json", age=6 * 60)
    assert response.status_code == 200 and old.status_code == 401
    h.idle()
    assert double.of("chat.postMessage") == []


def test_tampered_body_is_refused(h: Harness, double: SlackDouble) -> None:
    from tests.doubles.slack import command_body, sign

    body = command_body("U0ADMIN", "help", double.response_url())
    headers = {**sign("test-signing-secret", body, int(__import__("time").time())),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    tampered = body.replace("help", "sweep")
    response = h.http.post("/slack/events", content=tampered.encode(), headers=headers)
    assert response.status_code == 401
    h.idle()
    assert double.responses == []


def test_wrong_bot_token_is_refused_like_slack(tmp_path: Path, double: SlackDouble) -> None:
    app = make_app(tmp_path / "home", slack={"base_url": double.base_url})
    with pytest.raises(BoltError):
        build_slack_app(app, client=WebClient(token="xoxb-wrong", base_url=double.base_url))
    assert double.calls[-1].method == "auth.test"


def test_missing_bot_token_is_a_clear_error(tmp_path: Path) -> None:
    app = make_app(tmp_path / "home")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_slack_app(app, environ={})


def test_tokens_from_env_or_secrets_file_never_shown(tmp_path: Path) -> None:
    secrets = tmp_path / "slack.env"
    secrets.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=file-secret\n")
    cfg = SlackConfig(secrets_file=secrets)
    tokens = load_tokens(cfg, {"SLACK_SIGNING_SECRET": "env-secret"})
    assert tokens.bot is not None and tokens.bot.get_secret_value() == "xoxb-from-file"
    assert tokens.signing_secret is not None
    assert tokens.signing_secret.get_secret_value() == "env-secret"
    for shown in (repr(tokens), str(tokens), tokens.model_dump_json()):
        assert "xoxb-from-file" not in shown and "env-secret" not in shown
    assert tokens.app is None


def test_config_rejects_bad_roles() -> None:
    with pytest.raises(ValueError, match="viewer role only"):
        Config.model_validate(
            {"slack": {"roles": {"U1AB": {"role": "admin", "scope": {"t": ["x"]}}}}}
        )
    with pytest.raises(ValueError, match="not a Slack user"):
        Config.model_validate({"slack": {"roles": {"alice": {"role": "admin"}}}})
    with pytest.raises(ValueError, match="extra"):
        Config.model_validate({"slack": {"bot_token": "xoxb-inline"}})


def _reply(double: SlackDouble) -> str:
    return json.dumps(double.responses[-1])


def test_finops_spend_matches_the_cli_query(h: Harness, double: SlackDouble) -> None:
    response = h.command(
        "U0ANALYST", "spend --by ServiceName --since 2026-11-01 --until 2026-11-30"
    )
    assert response.status_code == 200
    h.idle()
    reply = _reply(double)
    assert "USD 40,000.00" in reply and "Amazon S3" in reply and "USD 30,000.00" in reply
    assert "2026-11-01" in reply and "all spend" in reply
    assert double.responses[-1]["response_type"] == "ephemeral"


def test_scoped_viewer_spend_is_limited_and_other_reports_refused(
    h: Harness, double: SlackDouble
) -> None:
    h.command("U0PAYVIEW", "spend --since 2026-11-01 --until 2026-11-30")
    h.idle()
    assert "USD 10,000.00" in _reply(double) and "vtag:team=payments" in _reply(double)
    h.command("U0PAYVIEW", "spend --filter vtag:team=search")
    h.command("U0PAYVIEW", "anomalies")
    h.idle()
    assert len(double.responses) == 3
    assert all("limited to" in json.dumps(r) for r in double.responses[1:])
    refusals = [e for e in h.rt.audit.entries(kind="refusal") if e.actor == "U0PAYVIEW"]
    assert [e.payload["command"] for e in refusals] == ["spend", "anomalies"]


def test_sweep_needs_an_analyst(h: Harness, double: SlackDouble) -> None:
    double.groups["S0VIEWERS"] = ["U0GROUPED"]
    h.command("U0GROUPED", "sweep")
    h.idle()
    assert "analyst" in _reply(double)
    assert h.rt.store.query("SELECT count(*) FROM sweeps")[0][0] == 0
    assert h.rt.audit.entries(kind="refusal")[-1].payload["command"] == "sweep"


def test_help_proposals_budgets_and_bad_input(h: Harness, double: SlackDouble) -> None:
    for text in ("", "proposals --status pending", "budgets", "spend --grain hourly", "nope"):
        h.command("U0ADMIN", text)
        h.idle()
    replies = [json.dumps(r) for r in double.responses]
    assert "/finops" in replies[0] and "spend" in replies[0]
    assert "Proposals (pending)" in replies[1]
    assert "no budgets are defined" in replies[2]
    assert "grain" in replies[3]
    assert "unknown subcommand" in replies[4]


def test_savings_and_anomalies_answer(h: Harness, double: SlackDouble) -> None:
    h.command("U0ANALYST", "savings --by owner")
    h.idle()
    h.command("U0ANALYST", "anomalies --since 2026-11-01 --until 2026-11-10")
    h.idle()
    assert "No executed saving actions" in _reply_at(double, 0)
    assert "Cost anomalies" in _reply_at(double, 1) and "USD" in _reply_at(double, 1)


def _reply_at(double: SlackDouble, i: int) -> str:
    return json.dumps(double.responses[i])


def test_post_digest_goes_to_the_digest_channel(tmp_path: Path, double: SlackDouble) -> None:
    h = Harness(tmp_path / "home", double, Clock(), slack={"digest_channel": "C0DIGEST"})
    try:
        ts = h.app.post_digest("Sweep digest: USD 1.00 over 2026-11-01..2026-11-02")
        assert ts is not None
        post = double.of("chat.postMessage")[-1]
        assert post["channel"] == "C0DIGEST" and "Sweep digest" in post["text"]
    finally:
        h.close()


def test_socket_mode_needs_an_app_token(h: Harness) -> None:
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        h.app.socket_mode_handler()


def test_manifest_declares_what_the_app_uses() -> None:
    import yaml

    path = ROOT / "docs" / "slack-manifest.yaml"
    manifest = yaml.safe_load(path.read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "files:write", "im:history", "channels:history",
            "commands", "usergroups:read"} == scopes  # fmt: skip
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im", "message.channels", "app_home_opened"
    }  # fmt: skip
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/finops"]


def test_token_from_environment_reaches_the_web_api(tmp_path: Path, double: SlackDouble) -> None:
    app = make_app(tmp_path / "home", slack={"base_url": double.base_url})
    slack = build_slack_app(app, environ={"SLACK_BOT_TOKEN": double.token})
    try:
        assert double.calls[-1].method == "auth.test"
        assert double.calls[-1].token == double.token
    finally:
        slack.close()
