"""Loading scenario files, running a selection, the scorecard, and comparing two runs."""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from evals.runner import Outcome, Template, run_scenario
from evals.schema import Scenario, ScenarioFile
from warehouse.clock import utc_now
from warehouse.errors import ConfigError

__all__ = [
    "SCENARIOS",
    "Comparison",
    "EvalRun",
    "FamilyScore",
    "compare",
    "load_scenarios",
    "run_suite",
    "scorecard",
]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def load_scenarios(folder: Path = SCENARIOS, pattern: str = "*") -> list[tuple[str, Scenario]]:
    """(family, scenario) for every scenario whose id or family matches the glob."""
    out: list[tuple[str, Scenario]] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = ScenarioFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"{path.name}: invalid scenario file: {exc}") from None
        for s in doc.scenarios:
            if s.id in seen:
                raise ConfigError(f"{path.name}: duplicate scenario id {s.id}")
            seen.add(s.id)
            if fnmatch.fnmatch(s.id, pattern) or fnmatch.fnmatch(doc.family, pattern):
                out.append((doc.family, s))
    return out


class FamilyScore(BaseModel):
    family: str
    scenarios: int
    passed: int
    failed: int
    unsupported: int
    skipped: int
    pass_rate: Decimal | None
    mean_cost_usd: Decimal
    mean_tokens: Decimal
    mean_model_calls: Decimal
    mean_latency_s: Decimal


class EvalRun(BaseModel):
    model: str
    started_at: datetime
    outcomes: list[Outcome]
    families: list[FamilyScore]


def scorecard(outcomes: list[Outcome]) -> list[FamilyScore]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.family].append(o)
    groups["all"] = list(outcomes)
    out = []
    for family, items in groups.items():
        ran = [o for o in items if o.status in ("pass", "fail", "error")]
        passed = sum(o.status == "pass" for o in items)
        n = Decimal(len(ran)) if ran else Decimal(1)

        def mean(values: list[Decimal], n: Decimal = n) -> Decimal:
            return (sum(values, Decimal(0)) / n).quantize(Decimal("0.0001"))

        out.append(
            FamilyScore(
                family=family,
                scenarios=len(items),
                passed=passed,
                failed=sum(o.status in ("fail", "error") for o in items),
                unsupported=sum(o.status == "unsupported" for o in items),
                skipped=sum(o.status == "skipped" for o in items),
                pass_rate=(Decimal(passed) / Decimal(len(ran))).quantize(Decimal("0.001"))
                if ran
                else None,
                mean_cost_usd=mean([o.cost_usd for o in ran]),
                mean_tokens=mean([Decimal(o.input_tokens + o.output_tokens) for o in ran]),
                mean_model_calls=mean([Decimal(o.model_calls) for o in ran]),
                mean_latency_s=mean([Decimal(str(o.latency_s)) for o in ran]),
            )
        )
    return sorted(out, key=lambda f: (f.family == "all", f.family))


def run_suite(
    model: str = "offline",
    pattern: str = "*",
    *,
    live: bool = False,
    environ: Mapping[str, str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    template: Template | None = None,
) -> EvalRun:
    """Run every matching scenario on a fresh copy of its dataset."""
    selected = load_scenarios(pattern=pattern)
    if not selected:
        raise ConfigError(f"no scenario matches {pattern!r}")
    tpl = template or Template()
    owned = template is None
    try:
        tpl.build(on_progress)
        outcomes = []
        for i, (family, scenario) in enumerate(selected, 1):
            if on_progress:
                on_progress(f"[{i}/{len(selected)}] {scenario.id}")
            outcomes.append(run_scenario(scenario, family, tpl, model, live=live, environ=environ))
    finally:
        if owned:
            tpl.cleanup()
    return EvalRun(
        model=model,
        started_at=utc_now(),
        outcomes=outcomes,
        families=scorecard(outcomes),
    )


class Comparison(BaseModel):
    """Scenario status changes between two saved runs."""

    a: str
    b: str
    regressions: list[str]
    fixes: list[str]
    cost_delta_usd: Decimal


def compare(a_path: Path, b_path: Path) -> Comparison:
    try:
        a = EvalRun.model_validate(json.loads(a_path.read_text()))
        b = EvalRun.model_validate(json.loads(b_path.read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read eval results: {exc}") from None
    before = {o.scenario: o.status for o in a.outcomes}
    after = {o.scenario: o.status for o in b.outcomes}
    return Comparison(
        a=str(a_path),
        b=str(b_path),
        regressions=sorted(
            s for s, st in after.items() if before.get(s) == "pass" and st != "pass"
        ),
        fixes=sorted(s for s, st in after.items() if st == "pass" and before.get(s) != "pass"),
        cost_delta_usd=sum((o.cost_usd for o in b.outcomes), Decimal(0))
        - sum((o.cost_usd for o in a.outcomes), Decimal(0)),
    )
