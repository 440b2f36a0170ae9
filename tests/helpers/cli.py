"""Run the `finops` CLI in-process, the way a user's shell would, and capture its output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from agent.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Invoke `finops ARGS…`; exit code 0 unless the command raised SystemExit."""
    capsys.readouterr()
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
