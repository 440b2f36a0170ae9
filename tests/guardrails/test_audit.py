"""The audit log: an append-only hash chain in the state store, secrets redacted before writing,
and `verify` naming the first entry that was edited, removed or relinked."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardrails.audit import GENESIS, AuditLog, _digest, prompt_hash, redact
from tests.helpers.agent import START, Clock
from tests.helpers.audit import fill
from warehouse.state.store import StateStore

SECRETS = {
    "anthropic": "sk-ant-api03-AbCdEf0123456789_xyz-QRS",
    "openai_project": "sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4",
    "openai": "sk-0123456789abcdefABCDEF",
    "slack": "xoxb-1234567890-abcdefghijkl",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.payload.sig",
}


def raw(db: Path) -> sqlite3.Connection:
    """A second, unprivileged connection to the file: how an attacker would edit it."""
    return sqlite3.connect(db, isolation_level=None)


# --- append, entries, verify ---------------------------------------------------------------


def test_append_links_entries_and_verify_is_ok(log: AuditLog, clock: Clock) -> None:
    first = log.append("run_start", "cli", {"question": "spend?"}, run_id="r-1")
    clock.advance(minutes=1)
    second = log.append("model_call", "agent", {"tokens": 12}, run_id="r-1")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.at == START and second.at == START + timedelta(minutes=1)
    report = log.verify()
    assert report.ok and report.entries == 2 and report.head == second.hash
    assert report.first_bad_seq is None and report.problem is None


def test_empty_log_verifies(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok and report.entries == 0 and report.head is None


def test_entries_round_trip_and_filter(log: AuditLog, clock: Clock) -> None:
    log.append("run_start", "cli", {"q": "a"}, run_id="r-1")
    log.append("tool_call", "agent", {"tool": "x"}, run_id="r-1")
    log.append("tool_call", "agent", {"tool": "y"}, run_id="r-2")
    log.append("decision", "alice", {"approve": True})
    all_entries = log.entries()
    assert [e.seq for e in all_entries] == [1, 2, 3, 4]
    assert all_entries[3].run_id is None and all_entries[3].actor == "alice"
    assert all_entries[1].payload == {"tool": "x"}
    assert [e.seq for e in log.entries(kind="tool_call")] == [2, 3]
    assert [e.seq for e in log.entries(run_id="r-1")] == [1, 2]
    assert [e.seq for e in log.entries(kind="tool_call", run_id="r-2")] == [3]
    assert [e.seq for e in log.entries(since_seq=2)] == [3, 4]
    assert [e.seq for e in log.entries(limit=2)] == [1, 2]


def test_append_returns_what_is_stored(log: AuditLog) -> None:
    entry = log.append("proposal", "agent", {"amount": "12.50", "n": [1, 2]}, run_id="r-9")
    (stored,) = log.entries()
    assert stored == entry


def test_a_naive_clock_is_refused(store: StateStore) -> None:
    log = AuditLog(store, lambda: datetime(2026, 11, 28, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        log.append("run_start", "cli", {})
    assert store.query("SELECT count(*) FROM audit_log")[0][0] == 0


def test_times_are_stored_in_utc(store: StateStore) -> None:
    paris = datetime(2026, 11, 28, 13, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    entry = AuditLog(store, lambda: paris).append("run_start", "cli", {})
    assert entry.at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    assert store.query("SELECT at FROM audit_log")[0][0].endswith("+00:00")


# --- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secret_values_never_reach_the_database(
    log: AuditLog, db: Path, store: StateStore, name: str
) -> None:
    secret = SECRETS[name]
    # a bare JWT is not recognisable; it is redacted where it follows "Bearer "
    shown = f"Bearer {secret}" if name == "bearer" else secret
    entry = log.append(
        "tool_call",
        "agent",
        {"error": f"provider said: {shown} is invalid", "nested": {"list": [f"x {shown}", 3]}},
        run_id="r-1",
    )
    assert secret not in entry.model_dump_json()
    with raw(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert secret not in dump
    prefix = "Bearer " if name == "bearer" else ""
    assert entry.payload["error"] == f"provider said: {prefix}[redacted] is invalid"
    assert entry.payload["nested"]["list"] == [f"x {prefix}[redacted]", 3]
    assert log.verify().ok


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "x-api-key",
        "OPENAI_API_KEY",
        "aws_secret_access_key",
        "token",
        "slack_token",
        "client_secret",
        "password",
        "Authorization",
        "cookie",
    ],
)
def test_secret_looking_keys_are_redacted_whatever_the_value(log: AuditLog, key: str) -> None:
    entry = log.append("config", "cli", {"headers": {key: "plain-looking-value"}})
    assert entry.payload == {"headers": {key: "[redacted]"}}


def test_ordinary_keys_and_values_are_kept() -> None:
    payload = {
        "input_tokens": 1200,
        "max_tokens": 2048,
        "monkey": "business",
        "sku": "sk-1",  # too short to be a key
        "task": "ask about desk spend",
        "cost": "0.02685",
        "flags": [True, None, 1.5],
    }
    assert redact(payload) == payload


def test_redact_does_not_modify_its_input() -> None:
    payload = {"api_key": "k", "items": ["sk-ant-0123456789abcdef"]}
    redact(payload)
    assert payload == {"api_key": "k", "items": ["sk-ant-0123456789abcdef"]}


def test_bearer_redaction_keeps_the_scheme_word() -> None:
    assert redact("Authorization: Bearer abcdefgh.ijk") == "Authorization: Bearer [redacted]"


# --- tamper detection ------------------------------------------------------------------------


def test_edited_payload_is_reported(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 5)
    with raw(db) as conn:
        conn.execute("UPDATE audit_log SET payload = ? WHERE seq = 3", ('{"i":99}',))
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.problem == "entry 3 (tool_call) was modified after it was written"
    assert report.head is None and report.entries == 5


@pytest.mark.parametrize(
    ("column", "value"),
    [("kind", "noop"), ("actor", "mallory"), ("run_id", "r-2"), ("at", "2020-01-01T00:00:00")],
)
def test_any_edited_column_is_reported(
    log: AuditLog, clock: Clock, db: Path, column: str, value: str
) -> None:
    fill(log, clock, 4)
    with raw(db) as conn:
        conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = 2", (value,))
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 2
    assert "modified" in (report.problem or "")


def test_deleted_middle_entry_is_reported(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 5)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.problem == "entry 3 is missing (next is 4)"


def test_deleted_and_renumbered_entry_is_reported(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 4)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
        conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 2
    assert "does not link" in (report.problem or "")


def test_rehashed_edit_breaks_the_next_link(log: AuditLog, clock: Clock, db: Path) -> None:
    """An attacker who recomputes the edited entry's own hash is caught at the next entry."""
    fill(log, clock, 4)
    with raw(db) as conn:
        row = conn.execute(
            "SELECT seq, at, kind, actor, run_id, prev_hash FROM audit_log WHERE seq = 2"
        ).fetchone()
        seq, at, kind, actor, run_id, prev = row
        forged = '{"i":1,"tool":"nothing to see"}'
        digest = _digest(prev, seq, at, kind, actor, run_id, forged)
        conn.execute("UPDATE audit_log SET payload = ?, hash = ? WHERE seq = 2", (forged, digest))
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert report.problem == "entry 3 does not link to the entry before it"


def test_appends_after_tampering_do_not_heal_the_chain(
    log: AuditLog, clock: Clock, db: Path
) -> None:
    fill(log, clock, 3)
    with raw(db) as conn:
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    fill(log, clock, 2)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 1


def test_truncated_tail_is_caught_by_the_anchors(log: AuditLog, clock: Clock, db: Path) -> None:
    """A chain cannot prove its own last entry exists: its anchors, kept outside, do (more in
    test_audit_anchors.py)."""
    fill(log, clock, 3)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    report = log.verify()
    assert not report.ok and report.entries == 2 and report.first_bad_seq == 3
    assert (report.problem or "").startswith("entry 3 was cut off the end: the chain ends at")


# --- several writers ---------------------------------------------------------------------------


def test_two_logs_on_one_file_keep_one_chain(db: Path, clock: Clock) -> None:
    a_store, b_store = StateStore(db), StateStore(db)
    a, b = AuditLog(a_store, clock), AuditLog(b_store, clock)
    for i in range(6):
        (a if i % 2 == 0 else b).append("tool_call", "a" if i % 2 == 0 else "b", {"i": i})
        clock.advance(seconds=1)
    entries = a.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.actor for e in entries] == ["a", "b", "a", "b", "a", "b"]
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert a.verify().ok and b.verify().ok
    assert a.verify().head == b.verify().head == entries[-1].hash
    a_store.close()
    b_store.close()


def test_concurrent_writers_in_threads_never_fork_the_chain(db: Path, clock: Clock) -> None:
    stores = [StateStore(db) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def writer(store: StateStore, name: str) -> None:
        log = AuditLog(store, clock)
        barrier.wait()
        try:
            for i in range(20):
                log.append("tool_call", name, {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, f"w{n}")) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = AuditLog(stores[0], clock).verify()
    assert report.ok and report.entries == 60
    for s in stores:
        s.close()


# --- prompt hash -------------------------------------------------------------------------------


def test_prompt_hash_is_stable_and_distinguishes_prompts() -> None:
    parts = ["You are a FinOps agent.", "what did we spend?"]
    assert prompt_hash(parts) == prompt_hash(list(parts))
    assert len(prompt_hash(parts)) == 64
    assert prompt_hash(parts) != prompt_hash(["You are a FinOps agent.", "what did we earn?"])
    assert prompt_hash(["ab", "c"]) != prompt_hash(["a", "bc"])
    assert prompt_hash(["a", "b"]) != prompt_hash(["b", "a"])
    assert prompt_hash([]) != prompt_hash([""])
