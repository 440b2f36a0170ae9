"""The demo's stop-after-approval, end to end, on a simulated AWS over the real protocol.

`finops demo` starts moto's server (`ThreadedMotoServer`) on 127.0.0.1, seeds four EC2 instances
with 14 days of hourly CloudWatch metrics (two idle, one busy, one idle but protected by
`finops:protected=true`), and then runs the product exactly as against AWS: boto3 collects the
inventory and utilization into the warehouse (`AWS_ENDPOINT_URL` points at the server), the
optimizer finds the idle instances, the `stop_ec2_instances` write tool proposes stopping them,
an allow-listed approver from the config approves, and the action graph re-validates (state,
type, protection, finding, blast radius, EC2 `DryRun=True`) and stops them once. The server and
its instances end with the demo; the warehouse and the ledger keep the record.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

from agent.context import AppContext
from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal
from tools.invoke import invoke_tool
from tools.optimize.engine import recommend
from warehouse.cloud import CloudSettings, aws_client
from warehouse.errors import FinopsError
from warehouse.inventory.aws import collect_aws
from warehouse.inventory.config import AwsCollectConfig

__all__ = ["CloudDemo", "run_cloud_demo", "simulated_aws"]

REGION = "us-east-1"
DAYS = 14
_FLEET: tuple[tuple[str, str, float, float, bool], ...] = (
    # name, team, mean CPU %, network MB/day, protected
    ("reports-legacy", "analytics", 1.5, 2.0, False),
    ("etl-nightly-old", "data-platform", 2.5, 3.5, False),
    ("checkout-api", "payments", 46.0, 9000.0, False),
    ("finance-close", "finance", 1.0, 1.0, True),
)
_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


class CloudDemo(BaseModel):
    """What the demo did on the simulated cloud, with the evidence to show."""

    endpoint: str
    instances: dict[str, str]
    idle: list[str]
    protected: list[str]
    proposal: dict[str, Any] | None
    approver: str | None
    states_before: dict[str, str]
    states_after: dict[str, str]
    note: str | None = None


@contextmanager
def simulated_aws() -> Iterator[str]:
    """moto's server on 127.0.0.1 with boto3 pointed at it (env restored afterwards)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] comes with the dev extra that `make demo` installs
        raise FinopsError(f"the simulated cloud needs moto[server]: {exc}") from None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION=REGION,
    )
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def _datapoints(name: str, iid: str, values: list[float], start: datetime) -> list[dict[str, Any]]:
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "InstanceId", "Value": iid}],
            "Timestamp": start + timedelta(hours=h),
            "Value": v,
            "Unit": "Percent" if name == "CPUUtilization" else "Bytes",
        }
        for h, v in enumerate(values)
    ]


def _seed(endpoint: str, end: date) -> dict[str, str]:
    """Launch the fleet and write its hourly metrics for the DAYS days ending on `end`."""
    cloud = CloudSettings(aws_endpoint_url=endpoint)
    ec2, cw = aws_client("ec2", REGION, cloud), aws_client("cloudwatch", REGION, cloud)
    start = datetime.combine(end - timedelta(days=DAYS - 1), time(), tzinfo=UTC)
    ids: dict[str, str] = {}
    for name, team, cpu, net_mb, protect in _FLEET:
        tags = [{"Key": "Name", "Value": name}, {"Key": "team", "Value": team}]
        if protect:
            tags.append({"Key": "finops:protected", "Value": "true"})
        run = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m5.xlarge",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )  # fmt: skip
        iid = str(run["Instances"][0]["InstanceId"])
        ids[iid] = name
        hours = DAYS * 24
        cpu_series = [cpu * (1.4 if h % 24 in range(9, 18) else 0.7) for h in range(hours)]
        net = [net_mb * 1e6 / 24] * hours
        for name_, series in (("CPUUtilization", cpu_series), ("NetworkIn", net)):
            points = _datapoints(name_, iid, series, start)
            for i in range(0, len(points), 500):
                cw.put_metric_data(Namespace="AWS/EC2", MetricData=points[i : i + 500])
    return ids


def _states(endpoint: str, ids: Mapping[str, str]) -> dict[str, str]:
    ec2 = aws_client("ec2", REGION, CloudSettings(aws_endpoint_url=endpoint))
    resp = ec2.describe_instances(InstanceIds=list(ids))
    return {
        i["InstanceId"]: i["State"]["Name"] for r in resp["Reservations"] for i in r["Instances"]
    }


def _propose_and_approve(
    rt: Runtime, finding_ids: list[str], approver: str | None
) -> tuple[Proposal | None, str | None]:
    outcome = invoke_tool(
        rt.registry, rt.tool_context("finops-demo", None), "stop_ec2_instances",
        {"finding_ids": finding_ids},
    )  # fmt: skip
    if not outcome.ok or outcome.proposal_id is None:
        return None, f"no proposal: {outcome.error}"
    pending = rt.ledger.get(outcome.proposal_id)
    if approver is None:
        return pending, "no approver in the config (`approvers`): the proposal stays pending"
    return rt.approve(pending.id, approver).proposal, None


def run_cloud_demo(app: AppContext, end: date) -> CloudDemo:
    """Seed the simulated AWS, collect, find idle instances, propose, approve and stop them."""
    with simulated_aws() as endpoint:
        ids = _seed(endpoint, end)
        collect_aws(
            app.warehouse(),
            AwsCollectConfig(regions=[REGION], lookback_days=DAYS),
            CloudSettings.from_environ(os.environ),
            now=datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
        )
        rt = Runtime(app)
        try:
            found = recommend(rt.tool_context("finops-demo", None)).findings
            idle = [f for f in found if f.rule == "ec2_low_utilization" and f.resource_id in ids]
            before = _states(endpoint, ids)
            approver = app.config.approvers[0] if app.config.approvers else None
            proposal, note = (
                _propose_and_approve(rt, [f.id for f in idle], approver)
                if idle
                else (None, "no idle instance found")
            )
        finally:
            rt.close()
        idle_ids = {f.resource_id for f in idle}
        return CloudDemo(
            endpoint=endpoint,
            instances=ids,
            idle=[i for i in ids if i in idle_ids],
            protected=[i for i, n in ids.items() if n == "finance-close"],
            proposal=None if proposal is None else proposal.model_dump(mode="json"),
            approver=approver if proposal is not None and note is None else None,
            states_before=before,
            states_after=_states(endpoint, ids),
            note=note,
        )
