"""The one rule of the layout: imports point down, `warehouse ← guardrails ← tools ← agent ←
evals/bench` (with `prompts`, a leaf, usable by the agent). No allow-list: every import in every
module is checked, inside functions and `TYPE_CHECKING` blocks included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {
    "warehouse": 0,
    "guardrails": 1,
    "tools": 2,
    "prompts": 2.5,
    "agent": 3,
    "evals": 4,
    "bench": 4,
}


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in `path`, relative ones resolved."""
    package = path.relative_to(root).parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                if node.module:
                    found.append((node.lineno, ".".join(filter(None, [base, node.module]))))
                else:
                    found.extend(
                        (node.lineno, ".".join(filter(None, [base, a.name]))) for a in node.names
                    )
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def _violations(root: Path = ROOT) -> list[str]:
    out = []
    for top, rank in RANK.items():
        for path in sorted((root / top).rglob("*.py")):
            for line, module in _imports(path, root):
                target = module.split(".")[0]
                if target in RANK and target != top and RANK[target] >= rank:
                    out.append(
                        f"{path.relative_to(root)}:{line} imports {module} ({top} → {target})"
                    )
    return out


def test_imports_point_only_down() -> None:
    violations = _violations()
    assert not violations, "imports pointing up or sideways:\n" + "\n".join(violations)


def test_the_checker_sees_upward_and_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "warehouse" / "sub").mkdir(parents=True)
    (tmp_path / "warehouse" / "sub" / "m.py").write_text(
        "def f() -> None:\n    from agent.config import Config\n"
        "from ... import tools\nfrom ..errors import FinopsError\n"
    )
    found = _violations(tmp_path)
    assert any("m.py:2 imports agent.config (warehouse → agent)" in v for v in found)
    assert any("m.py:3 imports tools" in v for v in found)
    assert not any("errors" in v for v in found)


@pytest.mark.parametrize("top", ["agent", "tools", "evals"])
def test_nothing_but_the_cli_imports_a_cli_module(top: str) -> None:
    """`agent/cli/` parses and renders; serve, Slack, evals and tools call the capabilities."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / top).rglob("*.py"))
        if "cli" not in path.relative_to(ROOT).parts and path.name != "cli.py"
        for line, module in _imports(path)
        if module == "agent.cli" or module.startswith("agent.cli.")
    ]
    assert not offenders, "\n".join(offenders)
