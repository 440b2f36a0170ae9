"""The agent's virtual-tag tools: read tools through the chat graph, and a new rule that changes
`finops.yaml` only after approval (shown as a diff, applied atomically, old file kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from agent.config import load_config
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tests.helpers.agent import Clock, call, scripted
from tests.helpers.vtags import Row, add_rows
from warehouse.db import connect

CONFIG = """\
# Acme's FinOps config: keep this comment
approvers: [alice, bob]
virtual_tags:
  team:
    sources: [team]   # the owners' own tags
    rules:
      - id: shared
        when: {SubAccountName: shared-services}
        value: platform
"""

RULE = {"id": "ml-dev", "when": {"SubAccountName": "ml-dev"}, "value": "ml-platform"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _runtime(home: Path, clock: Clock) -> Runtime:
    home.mkdir(parents=True, exist_ok=True)
    (home / "finops.yaml").write_text(CONFIG)
    con = connect(home / "warehouse.duckdb")
    add_rows(
        con,
        [
            Row(cost="12", ResourceId="i-1", SubAccountName="ml-dev"),
            Row(cost="5", ResourceId="i-2", SubAccountName="ml-dev", tags={"team": "data"}),
            Row(cost="3", ResourceId="i-3", SubAccountName="shared-services"),
        ],
    )
    con.close()
    return Runtime(AppContext.create(home), clock=clock, environ={})


def _propose(rt: Runtime, args: dict[str, object]) -> str | None:
    rt._models = [scripted(call("add_tag_rule", args), AIMessage("Proposed."))]
    result = rt.ask("add a rule for ml-dev")
    return result.proposals[0] if result.proposals else None


def test_read_tools_answer_from_the_allocation(tmp_path: Path, clock: Clock) -> None:
    rt = _runtime(tmp_path / "home", clock)
    rt._models = [
        scripted(
            call("tags_coverage", {}, 1),
            call("tags_explain", {"resource_id": "i-3"}, 2),
            call("tags_candidates", {"vtag": "team"}, 3),
            AIMessage("done"),
        )
    ]
    result = rt.ask("how much is allocated?")
    assert [c.ok for c in result.tool_calls] == [True, True, True], result.tool_calls
    seen = rt._models[0].chat.seen[-1]
    texts = [str(m.content) for m in seen]
    assert any('"allocated_share": "0.4000"' in t for t in texts)  # tag 5 + rule 3 of 20
    assert any('"detail": "rule shared"' in t for t in texts)
    assert any('"resource_id": "i-1"' in t and '"unallocated": "12' in t for t in texts)
    rt.close()


def test_new_rule_waits_for_approval_then_applies_once_with_backup(
    tmp_path: Path, clock: Clock
) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, clock)
    pid = _propose(rt, {"vtag": "team", "rule": RULE})
    assert pid is not None
    assert (home / "finops.yaml").read_text() == CONFIG  # nothing changes before approval
    proposal = rt.ledger.get(pid)
    diff = proposal.evidence["diff"]
    assert "+      - id: ml-dev" in diff and "+        value: ml-platform" in diff
    impact = proposal.evidence["spend_matched_now_by_provenance"]
    assert impact == {"default": "USD 12.00 over 1 keys", "tag": "USD 5.00 over 1 keys"}
    decision = rt.approve(pid, "alice")
    assert decision.proposal.status == "done", decision.proposal.result
    text = (home / "finops.yaml").read_text()
    assert "# Acme's FinOps config: keep this comment" in text
    assert "# the owners' own tags" in text
    rules = load_config(rt.app.home).virtual_tags["team"].rules
    assert [r.id for r in rules] == ["shared", "ml-dev"]
    backup = Path(str(decision.proposal.result and decision.proposal.result["backup"]))
    assert backup.read_text() == CONFIG
    rt.run_action(pid)  # a second run changes nothing
    assert (home / "finops.yaml").read_text() == text
    rt.close()


def test_rejected_rule_changes_nothing(tmp_path: Path, clock: Clock) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, clock)
    pid = _propose(rt, {"vtag": "team", "rule": RULE, "position": 0})
    assert pid is not None
    rt.reject(pid, "bob", "use a tag instead")
    assert (home / "finops.yaml").read_text() == CONFIG
    assert not list(home.glob("finops.yaml.*.bak"))
    rt.close()


def test_config_edited_after_the_proposal_is_not_overwritten(tmp_path: Path, clock: Clock) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, clock)
    pid = _propose(rt, {"vtag": "team", "rule": RULE})
    assert pid is not None
    edited = CONFIG + "# someone else's edit\n"
    (home / "finops.yaml").write_text(edited)
    decision = rt.approve(pid, "alice")
    assert decision.proposal.status == "failed"
    assert "changed since this proposal" in str(decision.proposal.result)
    assert (home / "finops.yaml").read_text() == edited
    rt.close()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"vtag": "team", "rule": {**RULE, "id": "shared"}}, "already has a rule with id"),
        ({"vtag": "owner", "rule": RULE}, "virtual tag 'owner' is not defined"),
        ({"vtag": "team", "rule": {**RULE, "when": {"Colour": "x"}}}, "unknown column"),
        ({"vtag": "team", "rule": {**RULE, "resource": "(?!x)"}}, "lookaround"),
    ],
)
def test_bad_rules_make_no_proposal(
    tmp_path: Path, clock: Clock, args: dict[str, object], error: str
) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, clock)
    rt._models = [scripted(call("add_tag_rule", args), AIMessage("Could not."))]
    result = rt.ask("add a rule")
    assert not result.proposals
    assert result.tool_calls[0].ok is False
    assert error in (result.tool_calls[0].error or "")
    assert (home / "finops.yaml").read_text() == CONFIG
    rt.close()


def test_broken_yaml_on_disk_is_refused(tmp_path: Path, clock: Clock) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, clock)
    broken = CONFIG + "  - : [unclosed\n"
    (home / "finops.yaml").write_text(broken)
    rt._models = [scripted(call("add_tag_rule", {"vtag": "team", "rule": RULE}), AIMessage("x"))]
    result = rt.ask("add a rule")
    assert not result.proposals
    assert "invalid YAML" in (result.tool_calls[0].error or "")
    assert (home / "finops.yaml").read_text() == broken
    rt.close()
