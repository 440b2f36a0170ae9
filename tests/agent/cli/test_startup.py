"""A short command starts at once: it imports what it needs when it runs, never the agent
runtime, cloud SDKs, Slack, plotting, Spark or the HTTP server. Checked from `sys.modules` in a
fresh interpreter, the way a user runs the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from agent.cli.main import COMMANDS

HEAVY = (
    "langgraph",
    "langchain",
    "langchain_core",
    "boto3",
    "botocore",
    "kubernetes",
    "slack_bolt",
    "slack_sdk",
    "matplotlib",
    "pyspark",
    "uvicorn",
    "starlette",
    "sqlglot",  # the query layer parses SQL only to transpile it for a non-DuckDB engine
)

_PROBE = """
import json, sys
from agent.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " CODE " + str(code) + "\\n")
"""


def _run(home: Path, *argv: str) -> tuple[int, set[str], str]:
    """(exit code, modules loaded, output) of `finops --home HOME argv…` in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "--home", str(home), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )
    marker = done.stderr.rindex("\nMODULES ")
    modules_json, _, code = done.stderr[marker + 9 :].rpartition(" CODE ")
    return int(code.strip()), set(json.loads(modules_json)), done.stdout + done.stderr[:marker]


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose warehouse holds 10 real FOCUS rows and one virtual tag."""
    from tests.paths import SHARED_DATA

    home = tmp_path_factory.mktemp("tiny-home")
    lines = (SHARED_DATA / "focus" / "focus_sample_1000.csv").read_text().splitlines()
    (home / "tiny.csv").write_text("\n".join(lines[:11]) + "\n")
    (home / "finops.yaml").write_text(
        "virtual_tags:\n  team:\n    sources: [team, owner]\n    default: unallocated\n"
    )
    return home


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("ingest", "tiny.csv"),
        ("spend", "--grain", "total"),
        ("tags", "coverage"),
    ],
    ids=["help", "ingest-csv", "spend-total", "tags-coverage"],
)
def test_short_commands_import_no_heavy_dependency(tiny_home: Path, argv: tuple[str, ...]) -> None:
    if argv[0] != "ingest":
        _run(tiny_home, "ingest", "tiny.csv")
    code, modules, output = _run(tiny_home, *argv)
    assert code == 0, output
    assert not _heavy(modules), f"finops {' '.join(argv)} imported {_heavy(modules)[:10]}"


def test_a_heavy_command_still_loads_what_it_needs(tiny_home: Path) -> None:
    """The probe can fail: `ask` does import the LangGraph runtime."""
    code, modules, output = _run(tiny_home, "ask", "what did we spend?")
    assert code == 0, output
    assert "langgraph" in {m.split(".")[0] for m in modules}


def test_help_lists_every_command_without_importing_its_module(tiny_home: Path) -> None:
    code, modules, output = _run(tiny_home, "--help")
    assert code == 0
    for name, module, _help in COMMANDS:
        assert name in output
        assert module not in modules


def test_command_table_matches_what_the_modules_register() -> None:
    """`COMMANDS` (name, module, help) is what `finops --help` shows without importing: it must
    name every command each module registers, with the help the command itself carries."""
    registered: list[tuple[str, str, str]] = []
    for module_name in dict.fromkeys(m for _n, m, _h in COMMANDS):
        sub = typer.Typer()
        __import__(module_name, fromlist=["register"]).register(sub)
        group = typer.main.get_group(sub)
        for name in group.list_commands(None):  # type: ignore[arg-type]
            command = group.get_command(None, name)  # type: ignore[arg-type]
            assert command is not None
            text = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
            registered.append((name, module_name, text))
    assert sorted(registered) == sorted(COMMANDS)
