"""Issue 18, point 13: a secret pasted into a question (or echoed by a model, or found in a tool
result) is redacted before LangGraph checkpoints it, with the audit log's redaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from tests.helpers.agent import Clock, call, make_runtime, scripted

SECRET = "sk-ant-api03-Zq7TopSecretValue0123456789"
CORE = b"TopSecretValue0123456789"


def _checkpoint_blobs(state_db: Path) -> list[bytes]:
    conn = sqlite3.connect(state_db)
    try:
        blobs = [bytes(r[0]) for r in conn.execute("SELECT checkpoint FROM checkpoints")]
        blobs += [bytes(r[0]) for r in conn.execute("SELECT metadata FROM checkpoints")]
        blobs += [bytes(r[0]) for r in conn.execute("SELECT value FROM writes")]
    finally:
        conn.close()
    return blobs


def test_a_pasted_secret_never_reaches_the_checkpoints(tmp_path: Path) -> None:
    home = tmp_path / "home"
    echo = AIMessage(f"Never paste a key like {SECRET} into a chat.")
    handle = scripted(call("open_ticket", {"title": f"Rotate {SECRET}", "owner": "alice"}), echo)
    rt = make_runtime(home, Clock(), models=[handle])
    result = rt.ask(f"My Anthropic key is {SECRET}, is it costing us much?")
    thread = result.thread_id
    saved = rt.saver.get_tuple({"configurable": {"thread_id": thread}})
    assert saved is not None
    messages = saved.checkpoint["channel_values"]["messages"]
    rt.close()

    blobs = _checkpoint_blobs(home / "state.db")
    assert blobs and not any(CORE in b for b in blobs)
    assert any(b"[redacted]" in b for b in blobs)
    human = [m for m in messages if isinstance(m, HumanMessage)]
    assert human[0].content == "My Anthropic key is [redacted], is it costing us much?"
    tool = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool and SECRET not in str(tool[0].content) and SECRET not in str(tool[0].artifact)
    assert "[redacted]" in str(messages[-1].content) and SECRET not in result.answer
    assert all(SECRET not in str(m.content) for m in handle.chat.seen[0])  # nor sent to the model
