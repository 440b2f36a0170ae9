"""Block Kit's documented limits, checked the way Slack checks them, for the Web API double.

Written from Slack's Block Kit reference, independently of the app's own builder
(`agent.slack.blocks`): a message has at most 50 blocks (a modal or Home tab 100); a section has
text of 1..3,000 characters or 1..10 fields of 1..2,000; a header plain text of 1..150; a context
1..10 elements; an actions block 1..25 elements; a button text 1..75, `action_id` and `block_id`
at most 255, `value` at most 2,000, `url` at most 3,000; every text object non-empty. A view's
title, submit and close texts are plain text of at most 24 characters, its `private_metadata` at
most 3,000 and `callback_id` 255. Each error reads like Slack's:
`must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["block_errors", "view_errors"]

BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "image", "input",
               "rich_text", "file", "video", "markdown"}  # fmt: skip
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}


def _text(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    """Errors of one text object (type, non-empty, at most `limit` characters)."""
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{where}]"]
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        return [f"must be one of {', '.join(kinds)} [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _length(value: Any, where: str, limit: int) -> list[str]:
    if value is not None and len(str(value)) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}]"]
    return []


def _section(block: dict[str, Any], at: str) -> list[str]:
    errors: list[str] = []
    fields = block.get("fields")
    if "text" in block or not fields:
        errors += _text(block.get("text"), f"{at}/text", 3000)
    if fields is not None:
        if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
            errors.append(f"must provide 1 to 10 items [json-pointer:{at}/fields]")
        else:
            for i, field in enumerate(fields):
                errors += _text(field, f"{at}/fields/{i}", 2000)
    return errors


def _element(element: dict[str, Any], at: str) -> list[str]:
    errors = _length(element.get("action_id"), f"{at}/action_id", 255)
    if element.get("type") == "button":
        errors += _text(element.get("text"), f"{at}/text", 75, plain_only=True)
        errors += _length(element.get("value"), f"{at}/value", 2000)
        errors += _length(element.get("url"), f"{at}/url", 3000)
    return errors


def _elements(block: dict[str, Any], at: str, most: int) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= most:
        return [f"must provide 1 to {most} items [json-pointer:{at}/elements]"]
    errors: list[str] = []
    for i, element in enumerate(elements):
        where = f"{at}/elements/{i}"
        if block["type"] == "context" and element.get("type") in ("mrkdwn", "plain_text"):
            errors += _text(element, where, 3000)
        elif block["type"] == "actions":
            errors += _element(element, where)
    return errors


def _block(block: Any, at: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return [f"unknown block type [json-pointer:{at}/type]"]
    errors = _length(block.get("block_id"), f"{at}/block_id", 255)
    kind = block["type"]
    if kind == "section":
        errors += _section(block, at)
    elif kind == "header":
        errors += _text(block.get("text"), f"{at}/text", 150, plain_only=True)
    elif kind == "context":
        errors += _elements(block, at, 10)
    elif kind == "actions":
        errors += _elements(block, at, 25)
    elif kind == "input":
        errors += _text(block.get("label"), f"{at}/label", 2000, plain_only=True)
    elif kind == "image":
        errors += _length(block.get("alt_text"), f"{at}/alt_text", 2000)
    return errors


def block_errors(blocks: Any, surface: str = "message") -> list[str]:
    """Every limit `blocks` breaks on `surface` (message, modal, home); [] when Slack accepts."""
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    most = MAX_BLOCKS[surface]
    errors = (
        [f"must provide at most {most} items [json-pointer:/blocks]"] if len(blocks) > most else []
    )
    for i, block in enumerate(blocks):
        errors += _block(block, f"/blocks/{i}")
    return errors


def view_errors(view: dict[str, Any], method: str) -> list[str]:
    """Every limit a modal or Home tab view breaks; [] when Slack accepts it."""
    kind = view.get("type")
    if kind not in ("modal", "home") or (method == "views.publish") != (kind == "home"):
        return ["invalid view type [json-pointer:/view/type]"]
    errors = block_errors(view.get("blocks") or [], kind)
    if kind == "modal":
        errors += _text(view.get("title"), "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                errors += _text(view[key], f"/view/{key}", 24, plain_only=True)
    errors += _length(view.get("private_metadata"), "/view/private_metadata", 3000)
    errors += _length(view.get("callback_id"), "/view/callback_id", 255)
    return errors
