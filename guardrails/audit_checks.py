"""What `AuditLog.verify` checks beyond the chain's links: its anchors, and the ledger.

Anchors (`guardrails.anchors`): every anchor names an entry that exists with that hash (an entry
cut off the end, or a chain rewritten and re-hashed, breaks this), and every entry after the
baseline has an anchor (an entry appended without the key does not). Ledger: a proposal that was
approved or executed has the audit entries the ledger writes with each step (proposal, approval,
execution start, execution), and an execution in the log belongs to a proposal the ledger shows
as executed. Each problem names the entries (seq), anchor lines or proposal concerned.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from guardrails.anchors import Anchor, AnchorRead

__all__ = ["AnchorSummary", "AuditProblem", "check_anchors", "check_ledger", "spans"]

ProblemCode = Literal[
    "chain", "bad_anchor", "no_key", "truncated", "missing", "rewritten", "unanchored", "ledger"
]
MAX_SPANS = 20
EXECUTED = ("executing", "done", "failed")


class AuditProblem(BaseModel):
    """One thing `verify` found wrong: what, and where (entry seq, anchor line, proposal)."""

    code: ProblemCode
    message: str
    seq: int | None = None
    line: int | None = None
    proposal_id: str | None = None


class AnchorSummary(BaseModel):
    """What the anchor file held when the chain was verified."""

    path: str
    key: str
    anchors: int
    anchored_to: int | None = None
    baseline: int | None = None


def spans(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted distinct numbers: [1, 2, 3, 7] → [(1, 3), (7, 7)]."""
    ordered = sorted(set(numbers))
    groups = itertools.groupby(enumerate(ordered), key=lambda pair: pair[1] - pair[0])
    return [(run[0][1], run[-1][1]) for run in (list(g) for _, g in groups)]


def _entries(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}-{last}"


def _claims(read: AnchorRead) -> tuple[dict[int, dict[str, tuple[int, Anchor]]], int | None]:
    """Anchored hashes by seq (line and anchor of the first claim), less voided ones; and the
    baseline's seq."""
    claims: dict[int, dict[str, tuple[int, Anchor]]] = {}
    baseline = None
    for line, anchor in read.valid():
        heads = claims.setdefault(anchor.seq, {})
        if anchor.kind == "void":
            heads.pop(anchor.head, None)
            continue
        heads.setdefault(anchor.head, (line, anchor))
        if anchor.kind == "baseline":
            baseline = max(baseline or 0, anchor.seq)
    return {seq: heads for seq, heads in claims.items() if heads}, baseline


def check_anchors(
    hashes: Mapping[int, str], read: AnchorRead, key: str
) -> tuple[list[AuditProblem], AnchorSummary]:
    """Problems between the chain (`hashes`: stored hash by seq) and its anchor file."""
    problems = [
        AuditProblem(
            code="bad_anchor", message=f"anchor file {read.path}: {x.problem}", line=x.line
        )
        for x in read.lines
        if x.problem and read.key_problem is None
    ]
    claims, baseline = _claims(read)
    summary = AnchorSummary(
        path=read.path,
        key=key,
        anchors=len(read.valid()),
        anchored_to=max(claims, default=None),
        baseline=baseline,
    )
    if read.key_problem is not None:
        return [AuditProblem(code="no_key", message=read.key_problem)], summary
    top = max(hashes, default=0)
    problems += _beyond(claims, top)
    problems += _missing(claims, hashes, top)
    problems += _rewritten(claims, hashes)
    problems += _unanchored(claims, hashes, baseline or 0, read)
    return problems, summary


def _first_claim(heads: Mapping[str, tuple[int, Anchor]]) -> tuple[int, Anchor]:
    return min(heads.values(), key=lambda claim: claim[0])


def _beyond(claims: Mapping[int, Mapping[str, tuple[int, Anchor]]], top: int) -> list[AuditProblem]:
    last = max(claims, default=0)
    if last <= top:
        return []
    line, anchor = _first_claim(claims[last])
    where = f"entry {last} was anchored at {anchor.at} (anchor line {line})"
    if top == 0:
        message = f"all {last} entries are gone: the chain is empty but {where}"
    else:
        cut = f"{_entries(top + 1, last)} {'was' if top + 1 == last else 'were'}"
        message = f"{cut} cut off the end: the chain ends at entry {top} but {where}"
    return [AuditProblem(code="truncated", message=message, seq=top + 1, line=line)]


def _missing(
    claims: Mapping[int, Mapping[str, tuple[int, Anchor]]], hashes: Mapping[int, str], top: int
) -> list[AuditProblem]:
    gone = [seq for seq in claims if seq <= top and seq not in hashes]
    return [
        AuditProblem(
            code="missing",
            message=f"{_entries(a, b)} anchored (line {_first_claim(claims[a])[0]}) "
            f"{'is' if a == b else 'are'} missing from the chain",
            seq=a,
            line=_first_claim(claims[a])[0],
        )
        for a, b in spans(gone)[:MAX_SPANS]
    ]


def _rewritten(
    claims: Mapping[int, Mapping[str, tuple[int, Anchor]]], hashes: Mapping[int, str]
) -> list[AuditProblem]:
    differ = [seq for seq, heads in claims.items() if seq in hashes and set(heads) != {hashes[seq]}]
    problems = []
    for a, b in spans(differ)[:MAX_SPANS]:
        line = _first_claim(claims[a])[0]
        verb = "does" if a == b else "do"
        message = (
            f"{_entries(a, b)} {verb} not match {'its anchor' if a == b else 'their anchors'} "
            f"(first: anchor line {line}): the chain was rewritten and re-hashed from entry {a}"
        )
        problems.append(AuditProblem(code="rewritten", message=message, seq=a, line=line))
    return problems


def _unanchored(
    claims: Mapping[int, Mapping[str, tuple[int, Anchor]]],
    hashes: Mapping[int, str],
    baseline: int,
    read: AnchorRead,
) -> list[AuditProblem]:
    bare = [seq for seq in hashes if seq > baseline and seq not in claims]
    why = "" if read.exists else f" (the anchor file {read.path} does not exist)"
    return [
        AuditProblem(
            code="unanchored",
            message=f"{_entries(a, b)} {'has' if a == b else 'have'} no anchor: written without "
            f"the audit key (forged), or by a process that does not anchor{why}",
            seq=a,
        )
        for a, b in spans(bare)[:MAX_SPANS]
    ]


# -- the ledger ---------------------------------------------------------------------------------

LedgerEntries = Mapping[str, Mapping[str, list[tuple[int, dict[str, Any]]]]]


def ledger_entries(rows: Iterable[tuple[int, str, dict[str, Any]]]) -> LedgerEntries:
    """(seq, kind, payload) of audit entries → entries by proposal id, then kind."""
    found: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {}
    for seq, kind, payload in rows:
        pid = payload.get("proposal_id")
        if isinstance(pid, str):
            found.setdefault(pid, {}).setdefault(kind, []).append((seq, payload))
    return found


def _needed(
    status: str, started: bool, kinds: Mapping[str, list[tuple[int, dict[str, Any]]]]
) -> list[str]:
    """The entries a proposal in `status` must have and has not (descriptions)."""
    decisions = {p.get("outcome") for _, p in kinds.get("decision", [])}
    executions = {p.get("status") for _, p in kinds.get("execution", [])}
    started = started or status in ("executing", "done")
    missing = []
    if "proposal" not in kinds:
        missing.append("proposal entry")
    if status in ("approved", *EXECUTED) and "approved" not in decisions:
        missing.append("approval (decision entry, outcome approved)")
    if started and "execution_start" not in kinds:
        missing.append("execution_start entry")
    if status == "done" and "done" not in executions:
        missing.append("execution entry with status done")
    if status == "failed" and started and not executions:
        missing.append("execution entry with status failed")
    if status == "failed" and not started and not executions and "refusal" not in kinds:
        missing.append("execution or refusal entry saying why it failed")
    return missing


def check_ledger(
    proposals: Sequence[Mapping[str, Any]], entries: LedgerEntries
) -> list[AuditProblem]:
    """Problems between the proposals ledger (`id`, `status`, `started_at`) and the audit log."""
    problems = []
    status = {str(p["id"]): str(p["status"]) for p in proposals}
    for p in proposals:
        pid, kinds = str(p["id"]), entries.get(str(p["id"]), {})
        for what in _needed(str(p["status"]), p["started_at"] is not None, kinds):
            problems.append(
                AuditProblem(
                    code="ledger",
                    message=f"proposal {pid} ({p['status']}): no {what} in the audit log",
                    proposal_id=pid,
                )
            )
    for pid, kinds in sorted(entries.items()):
        for seq, _ in kinds.get("execution_start", [])[:1]:
            if status.get(pid) not in EXECUTED:
                shown = f"shows it {status[pid]}" if pid in status else "has no such proposal"
                problems.append(
                    AuditProblem(
                        code="ledger",
                        message=f"proposal {pid} started executing (entry {seq}) but the "
                        f"ledger {shown}",
                        seq=seq,
                        proposal_id=pid,
                    )
                )
    return problems
