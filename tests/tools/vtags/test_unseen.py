"""Allocation quality on a company the demo generator never produced.

Different teams, key spellings, value variants, account layout, naming scheme and cluster; the
config below is what a practitioner would write after looking at the tag keys, not something
tuned to this generator. Bar from the issue: at least 95% of spend allocated, and at least 90% of
the inferred spend allocated to the right owner.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np

from tests.helpers.vtags import Row, add_rows, allocate, config_of
from tools.vtags.accuracy import Truth, score

TEAMS = ("checkout", "identity", "growth", "analytics", "infra")
WORDS = {
    "checkout": ("cart", "orders", "payment-gw"),
    "identity": ("auth", "sso", "userdir"),
    "growth": ("campaign", "experiments", "mailer", "reports"),
    "analytics": ("etl", "lakehouse", "dashboards", "reports"),
    "infra": ("vpn", "bastion", "runner"),
}
ROLES = ("api", "worker", "db", "cache", "queue")
KEYS = ("Team", "team", "owner", "Squad", "department")
CODES = {"checkout": "FIN-17", "identity": "FIN-22", "growth": "MKT-03", "analytics": "DAT-09"}


def _value(rng: np.random.Generator, team: str) -> tuple[str, str]:
    """A messy but meaningful tag: synonym key, case/separator variants, team suffix or code."""
    key = str(rng.choice(KEYS))
    style = int(rng.integers(0, 5))
    if style == 0:
        return key, team.upper()
    if style == 1:
        return key, team.title() + " Team"
    if style == 2 and team in CODES:
        return "cost-center", CODES[team]
    if style == 3:
        return key, f"{team}_team"
    return key, team


def _company(con: duckdb.DuckDBPyConnection, seed: int = 20261129) -> dict[str, str]:
    """Write 60 days of a 420-resource company; return the true owner of every resource."""
    rng = np.random.default_rng(seed)
    truth: dict[str, str] = {}
    rows: list[Row] = []
    start = date(2026, 9, 1)
    for i in range(420):
        team = str(rng.choice(TEAMS, p=[0.3, 0.2, 0.15, 0.25, 0.1]))
        account = (
            f"{team}-production"
            if rng.random() < 0.6
            else str(rng.choice(["sandbox-eu", "legacy-main"]))
        )
        word = str(rng.choice(WORDS[team]))
        prefix = f"{team}-" if rng.random() < 0.35 else ""
        name = f"{prefix}{word}-{rng.choice(ROLES)}-{i:03x}"
        if rng.random() < 0.1:
            name = f"svc-{rng.choice(ROLES)}-{i:03x}"  # says nothing about its owner
        rid = f"i-{seed % 997:03d}{i:05d}"
        tags: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.58:
            key, value = _value(rng, team)
            tags[key] = value
        elif roll < 0.64:
            tags["owner"] = f"{rng.choice(['ana', 'raj', 'li'])}@example.com"  # a person
        if rng.random() < 0.3:
            tags["env"] = str(rng.choice(["prod", "Prod", "staging"]))
        truth[rid] = team
        daily = Decimal(str(round(float(rng.lognormal(1.2, 1.0)), 4)))
        for d in range(0, 60, 3):
            rows.append(
                Row(
                    day=start + timedelta(days=d),
                    cost=daily * 3,
                    ResourceId=rid,
                    ResourceName=name,
                    SubAccountId=f"acct-{account}",
                    SubAccountName=account,
                    ServiceName=str(rng.choice(["Amazon EC2", "Amazon RDS", "Amazon S3"])),
                    tags=tags or None,
                )
            )
    # a shared Kubernetes cluster: namespaces per team (labels on about half), system, idle
    for team in TEAMS:
        for j in range(4):
            rid = f"gke-shared/{team}-svc-{j}/deployment/app{j}"
            labels: dict[str, Any] = {"namespace": f"{team}-svc-{j}"}
            if j % 2 == 0:
                labels["team"] = team
            truth[rid] = team
            for d in range(0, 60, 3):
                rows.append(
                    Row(
                        day=start + timedelta(days=d),
                        cost=Decimal("4.50"),
                        ProviderName="Kubernetes",
                        ResourceId=rid,
                        ResourceName=f"app{j}",
                        SubAccountId="gke-shared",
                        SubAccountName="gke-shared",
                        ServiceName="Kubernetes",
                        tags=labels,
                    )
                )
    for ns, cost in (("kube-system", "3.00"), ("__idle__", "12.00")):
        for d in range(0, 60, 3):
            rows.append(
                Row(
                    day=start + timedelta(days=d),
                    cost=cost,
                    ProviderName="Kubernetes",
                    ResourceId=f"gke-shared/{ns}",
                    SubAccountId="gke-shared",
                    SubAccountName="gke-shared",
                    ServiceName="Kubernetes",
                    tags={"namespace": ns},
                )
            )
    truth["gke-shared/kube-system"] = "infra"
    add_rows(con, rows)
    return truth


CONFIG = {
    "team": {
        "sources": ["team", "owner", "squad", "department", "cost-center"],
        "aliases": {
            "checkout-team": "checkout",
            "identity-team": "identity",
            "growth-team": "growth",
            "analytics-team": "analytics",
            "infra-team": "infra",
            "FIN-17": "checkout",
            "FIN-22": "identity",
            "MKT-03": "growth",
            "DAT-09": "analytics",
        },
        "allowed_values": list(TEAMS),
        "rules": [
            {"id": "cluster-system", "when": {"tag:namespace": "kube-system"}, "value": "infra"}
        ],
        "shared": [
            {"id": "cluster-idle", "when": {"tag:namespace": "__idle__"}, "method": "proportional"}
        ],
    }
}


def test_unseen_company_meets_the_allocation_bar(con: duckdb.DuckDBPyConnection) -> None:
    truth = _company(con)
    config = config_of(CONFIG)
    allocate(con, config)
    result = score(con, config, "team", Truth(resources=truth, accounts={}))
    inferred = result.by_provenance["inferred"]
    assert result.allocated_share >= Decimal("0.95"), result.model_dump()
    assert inferred.spend > result.total * Decimal("0.15")  # inference did real work here
    assert inferred.accuracy is not None and inferred.accuracy >= Decimal("0.90"), result.wrong[:5]
    assert result.by_provenance["tag"].accuracy == Decimal("1.0000")  # normalization is right
    assert result.by_provenance["shared"].spend > 0
