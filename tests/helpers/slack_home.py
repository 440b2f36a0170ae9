"""Bodies Slack sends for the App Home tab: the `app_home_opened` event and a button click on a
published Home view (a `block_actions` payload whose container is the view, with no channel or
message), written from Slack's documented examples."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tests.doubles.slack import event_body

__all__ = ["home_click_body", "home_opened_body"]


def home_opened_body(user: str, event_id: str, tab: str = "home") -> str:
    """The `app_home_opened` event for `user` (JSON envelope)."""
    event = {"type": "app_home_opened", "user": user, "channel": f"D0{user[1:]}", "tab": tab,
             "event_ts": "1790000000.000100"}  # fmt: skip
    return event_body(event, event_id)


def home_click_body(user: str, view: dict[str, Any], action_id: str, value: str) -> str:
    """A `block_actions` payload for a button on `user`'s published Home `view`."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0DOUBLE"},
        "user": {"id": user, "team_id": "T0DOUBLE"},
        "api_app_id": "A0FINOPS",
        "trigger_id": f"trigger-home-{user}",
        "container": {"type": "view", "view_id": "V0HOME"},
        "view": {**view, "id": "V0HOME", "team_id": "T0DOUBLE", "state": {"values": {}},
                 "hash": "1790000000.abcdef"},
        "actions": [{"action_id": action_id, "block_id": "finops_home", "value": value,
                     "type": "button", "action_ts": "1790000001.000001"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})
