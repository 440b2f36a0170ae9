"""Start-up benchmark: how long a short `finops` command takes, against the bare imports it needs.

Run: `.venv/bin/python -m bench.startup --repeat 15`. Each command runs in a fresh interpreter
(as a user types it), on a home whose warehouse holds 10 real FOCUS rows. The baseline, measured
in the same run and interleaved with the commands, is
`python -c "import duckdb, typer, rich, pydantic"`: the floor any command of this CLI pays. The
target is ≤ 1.5× that baseline for `finops --help` and `finops spend --grain total`. A second
reference, the "floor", is a minimal Typer command doing the same kind of work (two options, one
pydantic model, a DuckDB sum, Rich output): what any CLI built on these libraries pays.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "data" / "focus" / "focus_sample_1000.csv"
BASELINE = ("-c", "import duckdb, typer, rich, pydantic")
FLOOR_APP = '''
import sys
from typing import Annotated

import duckdb
import rich
import typer
from pydantic import BaseModel


class Settings(BaseModel):
    reporting_currency: str = "USD"


app = typer.Typer()


@app.command()
def spend(
    grain: Annotated[str, typer.Option("--grain")] = "month",
    home: Annotated[str, typer.Option("--home")] = ".",
) -> None:
    settings = Settings.model_validate({})
    con = duckdb.connect(f"{home}/warehouse.duckdb", read_only=True)
    total = con.execute("SELECT sum(BilledCost) FROM costs").fetchone()
    rich.print(f"{settings.reporting_currency} {total}")


@app.command()
def other() -> None:
    """A second command, so Typer builds a group as the real CLI does."""


app()
'''
"""The floor of any Typer command of this shape: parse two options (Typer coerces them through
pydantic), validate one pydantic model, open the warehouse, sum one column, print with Rich."""
FINOPS = ("-c", "from agent.cli.main import main; main()")
COMMANDS: dict[str, tuple[str, ...]] = {
    "finops --help": ("--help",),
    "finops spend --grain total": ("spend", "--grain", "total"),
    "finops tags coverage": ("tags", "coverage"),
}


def _time(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def _tiny_home(root: Path) -> Path:
    """A home with 10 FOCUS rows (from the shared sample) and one virtual tag, allocated."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    (root / "tiny.csv").write_text("\n".join(lines[:11]) + "\n", encoding="utf-8")
    (root / "finops.yaml").write_text(
        "virtual_tags:\n  team:\n    sources: [team, owner]\n    default: unallocated\n",
        encoding="utf-8",
    )
    for argv in (("ingest", "tiny.csv"), ("tags", "refresh")):
        subprocess.run(
            [sys.executable, *FINOPS, "--home", str(root), *argv],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return root


def measure(repeat: int) -> dict[str, object]:
    """Median wall seconds of the baseline and of each command, runs interleaved."""
    with tempfile.TemporaryDirectory(prefix="finops-startup-") as tmp:
        home = _tiny_home(Path(tmp))
        floor = home / "floor_app.py"
        floor.write_text(FLOOR_APP, encoding="utf-8")
        runs: dict[str, list[float]] = {
            "baseline": [],
            "floor": [],
            **{name: [] for name in COMMANDS},
        }
        for _ in range(repeat):
            runs["baseline"].append(_time([sys.executable, *BASELINE], home))
            runs["floor"].append(
                _time(
                    [sys.executable, str(floor), "spend", "--grain", "total", "--home", str(home)],
                    home,
                )
            )
            for name, argv in COMMANDS.items():
                runs[name].append(
                    _time([sys.executable, *FINOPS, "--home", str(home), *argv], home)
                )
    medians = {name: statistics.median(times) for name, times in runs.items()}
    return {
        "repeat": repeat,
        "python": sys.version.split()[0],
        "median_seconds": medians,
        "ratio_to_baseline": {
            name: medians[name] / medians["baseline"] for name in ("floor", *COMMANDS)
        },
        "ratio_to_floor": {name: medians[name] / medians["floor"] for name in COMMANDS},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_startup.json")
    args = parser.parse_args(argv)
    result = measure(args.repeat)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    medians = result["median_seconds"]
    ratios = result["ratio_to_baseline"]
    assert isinstance(medians, dict) and isinstance(ratios, dict)
    floors = result["ratio_to_floor"]
    assert isinstance(floors, dict)
    print(f"baseline (import duckdb, typer, rich, pydantic): {medians['baseline']:.3f} s")
    print(
        f"floor (a minimal Typer command doing the same kind of work): {medians['floor']:.3f} s "
        f"= {ratios['floor']:.2f}× the baseline"
    )
    for name in COMMANDS:
        print(
            f"{name}: {medians[name]:.3f} s = {ratios[name]:.2f}× the baseline, "
            f"{floors[name]:.2f}× the floor"
        )


if __name__ == "__main__":
    main()
