"""The sweep on the demo company: time per step, and precision / recall of the anomaly incidents
against the planted incidents in `ground_truth.json`.

Run: `python -m bench.sweep [--days 90]`. An incident is found when a sweep finding of that
incident starts on the planted day and its scope or root cause names the planted resource (or,
for the runaway agent, its API key). Precision counts distinct incidents the sweep reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.context import AppContext
from agent.demo.build import build_demo
from agent.runtime.runner import Runtime
from tools.context import ToolContext
from tools.sweep.service import Finding, run_sweep
from warehouse.demo import DEMO_CONFIG, DEMO_END

__all__ = ["main", "score_incidents"]


def _planted(truth: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for inc in truth["incidents"]:
        if inc["kind"] == "cost_spike":
            rid = inc["series"].get("ResourceId") or inc["series"]["SubAccountId"]
            out.append({"id": inc["id"], "day": inc["date"], "marker": rid})
        elif inc["kind"] == "runaway_agent":
            out.append({"id": inc["id"], "day": inc["date"], "marker": inc["api_key_id"]})
    return out


def score_incidents(findings: list[Finding], truth: dict[str, Any]) -> dict[str, Any]:
    """Precision and recall of the sweep's anomaly incidents against the planted ones."""
    incidents: dict[str, list[Finding]] = {}
    for f in findings:
        if f.kind == "anomaly":
            incidents.setdefault(f.incident or f.id, []).append(f)
    planted = _planted(truth)
    matched: dict[str, str] = {}
    for key, fs in incidents.items():
        text = " ".join([json.dumps(f.scope) + " ".join(f.evidence) for f in fs])
        day = min(f.period.split("..")[0] for f in fs)
        for p in planted:
            if p["day"] == day and p["marker"] in text:
                matched[key] = p["id"]
    found = set(matched.values())
    return {
        "planted": [p["id"] for p in planted],
        "incidents_reported": len(incidents),
        "true_positives": len(matched),
        "false_positives": len(incidents) - len(matched),
        "recall": round(len(found) / len(planted), 3) if planted else None,
        "precision": round(len(matched) / len(incidents), 3) if incidents else None,
        "missed": sorted({p["id"] for p in planted} - found),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results_sweep.json")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        shutil.copy(DEMO_CONFIG, root / "finops.yaml")
        app = AppContext.create(root)
        started = time.perf_counter()
        result = build_demo(app.warehouse(), app.config, root / "demo", days=args.days)
        build_s = time.perf_counter() - started
        truth = json.loads(result.manifest.ground_truth_path.read_text())
        now = datetime.combine(DEMO_END + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        rt = Runtime(app, clock=lambda: now, environ={})
        ctx = ToolContext(config=app.config, store=rt.store, ledger=rt.ledger, audit=rt.audit,
                          clock=rt.clock, warehouse=app.warehouse, actor="bench")  # fmt: skip
        started = time.perf_counter()
        sweep = run_sweep(ctx, app.config.sweep, sleep=lambda _s: None, environ={})
        sweep_s = time.perf_counter() - started
        rt.close()
        report = {
            "date": datetime.now(UTC).date().isoformat(),
            "demo_days": args.days,
            "build_seconds": round(build_s, 2),
            "sweep_seconds": round(sweep_s, 2),
            "window": f"{sweep.since}..{sweep.until}",
            "steps": {s.name: s.seconds for s in sweep.steps},
            "score": score_incidents(sweep.findings, truth),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
