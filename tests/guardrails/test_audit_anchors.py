"""The audit chain sees its end cut off: anchors outside the state database (issue 18, point 11).

Each attack is done the way someone with write access to `state.db` (and not to the anchor file
or the key) would do it, through a second, raw SQLite connection: delete the last entry, the last
ten or all of them; rewrite an entry and re-hash everything after it; append a well-formed forged
entry; add a forged anchor line without the key. Before anchors, every one of them verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import stat
from pathlib import Path

import pytest

from guardrails.anchors import Anchor, AnchorBook, AnchorError, AuditKey
from guardrails.audit import GENESIS, AuditLog, _digest
from guardrails.settings import AuditConfig
from tests.helpers.agent import Clock
from tests.helpers.audit import fill
from warehouse.state.store import StateStore


def raw(db: Path) -> sqlite3.Connection:
    """What an attacker of the database holds: a connection to the file, not the key."""
    return sqlite3.connect(db, isolation_level=None)


def rehash(db: Path, start: int = 1) -> None:
    """Recompute every link and hash from entry `start` on, as an attacker would after editing."""
    with raw(db) as conn:
        rows = conn.execute(
            "SELECT seq, at, kind, actor, run_id, payload FROM audit_log ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        for seq, at, kind, actor, run_id, payload in rows:
            digest = _digest(prev, seq, at, kind, actor, run_id, payload)
            if seq >= start:
                conn.execute(
                    "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?",
                    (prev, digest, seq),
                )
            prev = digest


def forge_entry(db: Path, payload: str = '{"approved":true}') -> int:
    """Append a correctly linked and hashed entry straight into the database."""
    with raw(db) as conn:
        seq, prev = conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        at = "2026-11-28T12:00:30.000000+00:00"
        digest = _digest(prev, seq + 1, at, "decision", "alice", None, payload)
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, 'decision', 'alice', NULL, ?, ?, ?)",
            (seq + 1, at, payload, prev, digest),
        )
    return int(seq + 1)


def codes(log: AuditLog) -> list[str]:
    return [p.code for p in log.verify().problems]


# --- an untouched chain ------------------------------------------------------------------------


def test_untouched_chain_verifies_with_an_anchor_per_entry(
    log: AuditLog, clock: Clock, tmp_path: Path, db: Path
) -> None:
    fill(log, clock, 12)
    report = log.verify()
    assert report.ok and report.problems == [] and report.entries == 12
    assert report.anchors is not None
    assert (report.anchors.anchors, report.anchors.anchored_to) == (12, 12)
    assert report.anchors.baseline is None
    anchors = (tmp_path / "audit-anchors.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in anchors] == list(range(1, 13))
    key_file = tmp_path / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    with raw(db) as conn:
        assert key not in "\n".join(conn.iterdump())  # the key is never in the state database


def test_an_empty_chain_with_no_anchors_verifies(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok and report.entries == 0 and report.anchors is not None


# --- cutting the end off -----------------------------------------------------------------------


def test_deleting_the_last_entry_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 12")
    report = log.verify()
    assert not report.ok and report.entries == 11 and report.first_bad_seq == 12
    assert [p.code for p in report.problems] == ["truncated"]
    assert report.problem == (
        "entry 12 was cut off the end: the chain ends at entry 11 but entry 12 was anchored at "
        "2026-11-28T12:00:11.000000+00:00 (anchor line 12)"
    )


def test_deleting_the_last_ten_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 2")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert (report.problem or "").startswith(
        "entries 3-12 were cut off the end: the chain ends at entry 2 but entry 12 was anchored"
    )


def test_deleting_every_entry_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log")
    report = log.verify()
    assert not report.ok and report.entries == 0
    assert (report.problem or "").startswith("all 12 entries are gone: the chain is empty")


def test_a_cut_end_stays_caught_after_the_chain_grows_again(
    log: AuditLog, clock: Clock, db: Path
) -> None:
    """New entries written over the cut reuse its seqs; their hashes differ from the anchors."""
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 9")
    fill(log, clock, 5, actor="cli")
    report = log.verify()
    assert not report.ok and [p.code for p in report.problems] == ["rewritten"]
    assert report.first_bad_seq == 10
    assert (report.problem or "").startswith("entries 10-12 do not match their anchors")


# --- rewriting and re-hashing -----------------------------------------------------------------


def test_a_rewritten_and_rehashed_chain_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("UPDATE audit_log SET payload = ? WHERE seq = 3", ('{"i":2,"tool":"x"}',))
    rehash(db, start=3)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert [p.code for p in report.problems] == ["rewritten"]  # every link verifies
    assert report.problem == (
        "entries 3-12 do not match their anchors (first: anchor line 3): the chain was "
        "rewritten and re-hashed from entry 3"
    )


def test_a_shortened_and_rehashed_chain_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    """Delete a decision from the middle, renumber, re-hash: the links verify, anchors do not."""
    fill(log, clock, 12)
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 5")
        conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 5")
    rehash(db)
    report = log.verify()
    assert not report.ok
    assert [p.code for p in report.problems] == ["truncated", "rewritten"]
    assert report.problems[1].seq == 5


# --- forged entries and anchors ----------------------------------------------------------------


def test_a_forged_appended_entry_is_caught(log: AuditLog, clock: Clock, db: Path) -> None:
    fill(log, clock, 12)
    forged = forge_entry(db)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == forged == 13
    assert report.problem == (
        "entry 13 has no anchor: written without the audit key (forged), or by a process that "
        "does not anchor"
    )


def test_a_forged_entry_stays_caught_under_later_entries(
    log: AuditLog, clock: Clock, db: Path
) -> None:
    fill(log, clock, 3)
    forge_entry(db)
    fill(log, clock, 2)  # the agent links its next entries to the forged one and anchors them
    report = log.verify()
    assert [(p.code, p.seq) for p in report.problems] == [("unanchored", 4)]


def test_a_forged_anchor_without_the_key_is_caught(
    log: AuditLog, clock: Clock, db: Path, tmp_path: Path
) -> None:
    fill(log, clock, 12)
    seq = forge_entry(db)
    with raw(db) as conn:
        (head,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    anchors = tmp_path / "audit-anchors.jsonl"
    real = Anchor.model_validate_json(anchors.read_text().splitlines()[-1])
    forged = Anchor(kind="entry", seq=seq, head=head, at=real.at, kid=real.kid)
    forged.mac = hmac.new(b"a guess at the key" * 2, forged.body(), hashlib.sha256).hexdigest()
    with anchors.open("a") as handle:
        handle.write(forged.model_dump_json() + "\n")
    report = log.verify()
    assert [(p.code, p.line or p.seq) for p in report.problems] == [
        ("bad_anchor", 13),
        ("unanchored", 13),
    ]
    assert "line 13 does not verify under the audit key (forged or edited)" in (
        report.problem or ""
    )


def test_an_edited_anchor_line_is_caught(log: AuditLog, clock: Clock, tmp_path: Path) -> None:
    fill(log, clock, 4)
    anchors = tmp_path / "audit-anchors.jsonl"
    lines = anchors.read_text().splitlines()
    lines[3] = lines[3].replace('"seq":4', '"seq":3')
    anchors.write_text("\n".join(lines) + "\n")
    assert codes(log) == ["bad_anchor", "unanchored"]


def test_an_anchor_signed_with_another_key_says_so(
    store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    fill(AuditLog(store, clock), clock, 2)
    (tmp_path / "audit.key").unlink()
    (tmp_path / "audit.key").write_text("f" * 64)
    report = AuditLog(store, clock).verify()
    assert [p.code for p in report.problems] == ["bad_anchor", "bad_anchor", "unanchored"]
    assert "was signed with another key" in (report.problem or "")


# --- the key -----------------------------------------------------------------------------------


def test_verify_fails_closed_without_the_key(
    log: AuditLog, store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    fill(log, clock, 3)
    (tmp_path / "audit.key").unlink()
    fresh = AuditLog(store, clock)
    report = fresh.verify()
    assert not report.ok and codes(fresh) == ["no_key"]
    assert (report.problem or "").startswith("the audit key ($FINOPS_AUDIT_KEY or ")
    with pytest.raises(AnchorError, match=r"is missing but .* holds anchors"):
        fresh.append("decision", "alice", {"proposal_id": "p-1"})
    assert store.query("SELECT count(*) FROM audit_log")[0][0] == 3  # nothing unanchored written
    assert not (tmp_path / "audit.key").exists()


def test_the_key_can_come_from_the_environment(
    store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    env = {"FINOPS_AUDIT_KEY": "k" * 40}
    book = AnchorBook.for_store(store, AuditConfig(), env)
    log = AuditLog(store, clock, book)
    fill(log, clock, 3)
    assert log.verify().ok
    assert not (tmp_path / "audit.key").exists()
    without = AuditLog(store, clock, AnchorBook.for_store(store, AuditConfig(), {}))
    assert codes(without) == ["no_key"]
    short = AnchorBook.for_store(store, AuditConfig(), {"FINOPS_AUDIT_KEY": "short"})
    with pytest.raises(AnchorError, match="at least 32"):
        AuditLog(store, clock, short).append("run_start", "cli", {})


def test_configured_paths_are_used(store: StateStore, clock: Clock, tmp_path: Path) -> None:
    config = AuditConfig(
        anchors_path=tmp_path / "ledger-volume" / "anchors.jsonl",
        key_file=Path("secrets/audit.key"),  # relative: beside the state file
    )
    book = AnchorBook.for_store(store, config, {})
    assert book is not None
    assert book.path == tmp_path / "ledger-volume" / "anchors.jsonl"
    assert book.key.file == tmp_path / "secrets" / "audit.key"
    fill(AuditLog(store, clock, book), clock, 2)
    assert book.path.exists() and book.key.file.exists()
    assert not (tmp_path / "audit-anchors.jsonl").exists()


def test_the_key_is_created_once_by_racing_creators(tmp_path: Path) -> None:
    keys = {AuditKey("UNSET_VAR", tmp_path / "k" / "audit.key", {}).create() for _ in range(3)}
    assert len(keys) == 1
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["audit.key"]


def test_postgres_or_memory_state_is_not_anchored_without_a_path() -> None:
    memory = StateStore(":memory:")
    try:
        assert AnchorBook.for_store(memory) is None
        report = AuditLog(memory, Clock()).verify()
        assert report.ok and report.anchors is None
    finally:
        memory.close()


# --- upgrades, failed commits ----------------------------------------------------------------


def test_a_chain_from_before_anchoring_gets_a_baseline(
    db: Path, store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    fill(AuditLog(store, clock), clock, 4)
    (tmp_path / "audit-anchors.jsonl").unlink()  # as an installation upgraded from before
    upgraded = AuditLog(store, clock)
    report = upgraded.verify()
    assert [(p.code, p.seq) for p in report.problems] == [("unanchored", 1)]
    assert "entries 1-4 have no anchor" in (report.problem or "")
    assert "does not exist" in (report.problem or "")
    fill(upgraded, clock, 1)
    report = upgraded.verify()
    assert report.ok and report.anchors is not None and report.anchors.baseline == 4
    with raw(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 5")
    assert codes(upgraded) == ["truncated"]


def test_an_anchor_whose_entry_did_not_commit_is_voided(
    db: Path, store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    """The anchor is written before the commit; a commit that then fails cancels it (signed)."""
    log = AuditLog(store, clock)
    fill(log, clock, 2)
    with raw(db) as conn:  # entry 3's transaction breaks a deferred foreign key: COMMIT fails
        conn.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER fail_commit AFTER INSERT ON audit_log WHEN NEW.seq = 3"
            " BEGIN INSERT INTO child VALUES (99); END;"
        )
    failing = StateStore(db)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        AuditLog(failing, clock).append("tool_call", "agent", {"i": 3})
    failing.close()  # what a process does with a transaction it could not commit: roll back
    with raw(db) as conn:
        conn.execute("DROP TRIGGER fail_commit")
    assert store.query("SELECT count(*) FROM audit_log")[0][0] == 2
    assert log.verify().ok
    fill(log, clock, 2)
    assert log.verify().ok
    lines = (tmp_path / "audit-anchors.jsonl").read_text().splitlines()
    assert [(json.loads(x)["kind"], json.loads(x)["seq"]) for x in lines] == [
        ("entry", 1),
        ("entry", 2),
        ("entry", 3),
        ("void", 3),
        ("entry", 3),
        ("entry", 4),
    ]
