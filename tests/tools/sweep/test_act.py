"""The sweep acting per `sweep.act` policy: it proposes the changes (and tickets) for the
findings a policy selects, once per finding, and nothing changes before an approval. Runs
`finops sweep` against the EC2 world of tests/tools/actions/test_ec2.py (moto's server on
127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from tests.tools.actions.test_ec2 import World, _live, ec2, world  # noqa: F401 (fixtures)

POLICY = """
approvers: [alice, bob]
sweep:
  act:
    - actions: [stop_instance]
      min_monthly_saving: 10
      max_proposals: 5
      ticket: true
    - actions: [resize_instance]
      propose: false
      ticket: true
"""


def test_sweep_proposes_per_policy_once_and_changes_nothing(
    world: World,  # noqa: F811 (the imported fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = world
    w.rt.close()
    (w.home / "finops.yaml").write_text(POLICY)
    res = run_cli(capsys, "--home", str(w.home), "sweep", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    by_action = {}
    for a in doc["actions"]:
        by_action.setdefault(a["action"], []).append(a)
    stops = by_action["stop_instance"]
    assert len(stops) == 2 and all(a["outcome"] == "proposed" for a in stops)
    assert all(a["ticket_proposal_id"] for a in stops)
    (resize,) = by_action["resize_instance"]
    assert resize["proposal_id"] is None and resize["ticket_proposal_id"]
    assert set(doc["proposals"]) == {
        p for a in doc["actions"] for p in (a["proposal_id"], a["ticket_proposal_id"]) if p
    }
    listed = run_cli(capsys, "--home", str(w.home), "proposals", "--json").json()["proposals"]
    pending = {p["id"]: p for p in listed if p["status"] == "pending"}
    stop_targets = {
        t["instance_id"]
        for p in pending.values()
        if p["action"] == "stop_ec2_instances"
        for t in p["params"]["instances"]
    }
    assert stop_targets == {w.idle, w.idle2}
    assert _live(w.ec2, w.idle)[0] == "running" and _live(w.ec2, w.idle2)[0] == "running"

    again = run_cli(capsys, "--home", str(w.home), "sweep", "--json").json()
    assert again["actions"] == [] and again["proposals"] == []  # once per finding

    first = next(a for a in stops if a["proposal_id"])
    run_cli(capsys, "--home", str(w.home), "reject", first["proposal_id"], "--by", "alice")
    third = run_cli(capsys, "--home", str(w.home), "sweep", "--json").json()
    assert [a["finding_id"] for a in third["actions"]] == [first["finding_id"]]


def test_bad_policy_is_a_config_error(
    world: World,  # noqa: F811 (the imported fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = world
    w.rt.close()
    (w.home / "finops.yaml").write_text("sweep:\n  act:\n    - actions: []\n")
    res = run_cli(capsys, "--home", str(w.home), "sweep", "--json")
    assert res.code == 1 and "actions" in res.err and res.out == ""
