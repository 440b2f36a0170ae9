"""The Slack manifest against the code: every Web API method the app calls and every event it
listens to is covered by a bot scope and an event subscription of docs/slack-manifest.yaml, and
the manifest asks for no scope nothing uses (least privilege)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from tests.doubles.slack import MANIFEST, SlackDouble, required_scope

SOURCES = Path(__file__).resolve().parents[3] / "agent" / "slack"
# Web API calls made through slack_sdk helpers that are more than one method.
COMPOSITE = {"files_upload_v2": ["files.getUploadURLExternal", "files.completeUploadExternal"]}
# The subscription each Bolt event listener needs, and the scope each subscription needs.
SUBSCRIPTIONS = {
    "app_mention": ["app_mention"],
    "message": ["message.im", "message.channels"],
    "app_home_opened": ["app_home_opened"],
}
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_home_opened": None,
}


def _manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))


def _sdk_name(name: str) -> str:
    """`chat_postMessage` → `chat.postMessage`, `usergroups_users_list` → `usergroups.users.list`"""
    return name.replace("_", ".")


def _used() -> tuple[set[str], set[str], set[str]]:
    """(Web API methods, Bolt events, slash commands) the app's Slack package uses."""
    methods: set[str] = set()
    events: set[str] = set()
    commands: set[str] = set()
    for path in sorted(SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner, name = node.func.value, node.func.attr
            if isinstance(owner, ast.Attribute) and owner.attr == "client":
                methods.update(COMPOSITE.get(name, [_sdk_name(name)]))
            if isinstance(owner, ast.Name) and owner.id == "bolt" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and name == "event":
                    events.add(str(arg.value))
                if isinstance(arg, ast.Constant) and name == "command":
                    commands.add(str(arg.value))
    return methods, events, commands


def _needed_scopes(methods: set[str], events: set[str]) -> set[str]:
    scopes = {"commands"}
    for method in methods:
        if method in ("conversations.replies", "conversations.history"):
            scopes |= {"channels:history", "im:history"}
        elif (scope := required_scope(method, {})) is not None:
            scopes.add(scope)
    for event in events:
        for sub in SUBSCRIPTIONS[event]:
            if (scope := EVENT_SCOPES[sub]) is not None:
                scopes.add(scope)
    return scopes


def test_the_app_uses_web_api_methods_the_double_knows() -> None:
    methods, events, _ = _used()
    assert {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open"} <= methods
    assert {"app_mention", "message"} <= events
    unknown = {m for m in methods if required_scope(m, {}) is None}
    assert unknown <= {"views.open", "views.publish", "views.update", "auth.test",
                       "conversations.replies"}, unknown  # fmt: skip


def test_every_method_and_event_is_covered_by_the_manifest() -> None:
    manifest = _manifest()
    methods, events, commands = _used()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    missing = _needed_scopes(methods, events) - scopes
    assert not missing, f"the manifest lacks {missing}"
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    for event in events:
        assert set(SUBSCRIPTIONS[event]) <= subscribed, event
        for sub in SUBSCRIPTIONS[event]:
            assert EVENT_SCOPES[sub] is None or EVENT_SCOPES[sub] in scopes
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands <= declared
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_manifest_asks_for_no_scope_nothing_uses() -> None:
    manifest = _manifest()
    methods, events, _ = _used()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert not {"im:read", "users:read"} & scopes
    assert scopes <= _needed_scopes(methods, events), scopes - _needed_scopes(methods, events)
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert subscribed <= {s for e in events for s in SUBSCRIPTIONS[e]}


def test_home_tab_is_enabled_when_the_app_publishes_a_home() -> None:
    methods, events, _ = _used()
    home = _manifest()["features"]["app_home"]
    if "views.publish" in methods or "app_home_opened" in events:
        assert home["home_tab_enabled"] is True
        assert "app_home_opened" in _manifest()["settings"]["event_subscriptions"]["bot_events"]


def test_the_double_refuses_a_method_whose_scope_the_manifest_lacks() -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    with SlackDouble() as double:
        client = WebClient(token=double.token, base_url=double.base_url)
        assert client.chat_postMessage(channel="C1", text="hi")["ok"]
        for call in (lambda: client.users_info(user="U1"),
                     lambda: client.conversations_replies(channel="G1", ts="1.0")):  # fmt: skip
            try:
                call()
            except SlackApiError as exc:
                assert exc.response["error"] == "missing_scope"
            else:
                raise AssertionError("missing_scope expected")
        double.replies[("C1", "1.0")] = [{"ts": "1.0", "text": "root"}]
        assert client.conversations_replies(channel="C1", ts="1.0")["messages"][0]["text"] == "root"
    assert [r[1] for r in double.rejected] == ["missing_scope", "missing_scope"]


def test_manifest_yaml_is_what_slack_accepts() -> None:
    manifest = _manifest()
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", manifest["features"]["bot_user"]["display_name"])
    assert manifest["settings"]["socket_mode_enabled"] in (True, False)
