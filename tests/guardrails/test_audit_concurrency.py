"""Several processes appending to one audit chain at once leave one chain with one anchor per
entry, in order, and a process verifying meanwhile never sees a false problem (issue 18, 11).

Real processes (multiprocessing, spawn) released together by a barrier, each with its own state
store connection on the same SQLite file: some append tool calls, some drive proposals through
the ledger (whose audit entries join the ledger's transactions), one verifies in a loop.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import traceback
from pathlib import Path
from typing import Any

from guardrails.approvals import Ledger, ProposalDraft
from guardrails.audit import AuditLog
from guardrails.settings import GuardrailSettings
from warehouse.clock import utc_now
from warehouse.state.store import StateStore

SPAWN = multiprocessing.get_context("spawn")
WRITERS = 4
APPENDS = 30
PROPOSALS = 3  # per writer; each writes proposal, decision, execution_start, execution


def _writer(db: str, n: int, barrier: Any, out: Any) -> None:
    try:
        store = StateStore(db)
        log = AuditLog(store, utc_now)
        ledger = Ledger(store, log, GuardrailSettings(approvers=["alice"]), utc_now)
        barrier.wait(timeout=120)
        for i in range(APPENDS):
            log.append("tool_call", f"w{n}", {"i": i})
            time.sleep(0.005)  # leave the verifier room to run between appends
            if i % (APPENDS // PROPOSALS) == 0:
                draft = ProposalDraft(
                    action="stop_instance", target=f"i-{n}-{i}", summary="idle", rollback="start"
                )
                pid = ledger.propose(draft, created_by=f"w{n}").id
                ledger.approve(pid, "alice")
                if ledger.claim(pid, f"w{n}") and ledger.begin_attempt(pid):
                    ledger.finish(pid, ok=True, result={"stopped": [draft.target]})
        store.close()
        out.put(("ok", n))
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc()))
        raise


def _verifier(db: str, barrier: Any, out: Any, stop: Any) -> None:
    try:
        store = StateStore(db)
        log = AuditLog(store, utc_now)
        barrier.wait(timeout=120)
        bad, rounds = [], 0
        while not stop.is_set() or rounds == 0:
            report = log.verify()
            rounds += 1
            if not report.ok:
                bad.append([p.message for p in report.problems])
        store.close()
        out.put(("verified", (rounds, bad)))
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc()))
        raise


def test_concurrent_appenders_leave_one_anchored_chain(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    StateStore(db).close()
    barrier, out, stop = SPAWN.Barrier(WRITERS + 1), SPAWN.Queue(), SPAWN.Event()
    writers = [SPAWN.Process(target=_writer, args=(db, n, barrier, out)) for n in range(WRITERS)]
    verifier = SPAWN.Process(target=_verifier, args=(db, barrier, out, stop))
    procs = [*writers, verifier]
    for p in procs:
        p.start()
    try:
        done = 0
        while done < WRITERS:
            kind, detail = out.get(timeout=240)
            assert kind == "ok", detail
            done += 1
        stop.set()
        kind, (rounds, bad) = out.get(timeout=240)
        assert kind == "verified", rounds
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    assert rounds >= 1 and bad == []  # verifying while others append never reports a problem
    store = StateStore(db)
    report = AuditLog(store, utc_now).verify()
    store.close()
    expected = WRITERS * (APPENDS + 4 * PROPOSALS)
    assert report.ok, report.problems
    assert report.entries == expected and report.proposals == WRITERS * PROPOSALS
    assert report.anchors is not None and report.anchors.anchors == expected
    lines = (tmp_path / "audit-anchors.jsonl").read_text().splitlines()
    anchors = [json.loads(line) for line in lines]  # every line whole: no interleaved writes
    assert [a["seq"] for a in anchors] == list(range(1, expected + 1))  # written in chain order
    assert {a["kind"] for a in anchors} == {"entry"}
