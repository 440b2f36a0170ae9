"""The demo company's inventory as data: accounts, resources, prices, ownership tags, faults.

Everything here is fixed (prices are public list prices, rounded); only the day-to-day noise comes
from the seed. Tables are `|`-separated text so the whole company reads at a glance: `-` is an
empty cell, tags are written `key=value`, and a `[group]` line supplies the first cell of the rows
below it. Ownership tags are deliberately messy: six synonym keys, several spellings of each team,
and about a third of spend carries none at all.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNTS",
    "AZURE_STORAGE",
    "BQ_SPIKE",
    "BUCKETS",
    "CONTROLLERS",
    "COST_CENTERS",
    "FUNCTIONS",
    "INTER_AZ_GB",
    "OWNERSHIP_TAG_KEYS",
    "PROVIDERS",
    "RDS",
    "RIGHTSIZE",
    "RUNAWAY",
    "S3_SPIKE",
    "TEAMS",
    "VMS",
    "WAREHOUSES",
    "WORKLOADS",
    "Provider",
    "Tag",
    "Workload",
    "rows",
    "tag",
]

TEAMS = ("payments", "search", "ml-platform", "data", "web", "platform")
"""`platform` owns shared costs (shared-services, kube-system, monitoring, cluster idle)."""
OWNERSHIP_TAG_KEYS = ("team", "Team", "owner", "squad", "cost-center", "CostCenter")
COST_CENTERS = {
    "CC-1001": "payments",
    "CC-2002": "search",
    "CC-3003": "ml-platform",
    "CC-4004": "data",
    "CC-5005": "web",
    "CC-9000": "platform",
}
S3_SPIKE = ("aws:s3-transfer:search-index-exports", 9, 25.0)
BQ_SPIKE = ("gcp:bigquery-analysis:data-lake-prod", 23, 21.0)
"""(series key, days before `end`, multiplier of that day's quantity)."""
RUNAWAY = ("ticket-triage-agent", 9, (22.0, 36.0, 48.0, 41.0))
"""(agent id, first UTC hour on the last day, token multiplier of each runaway hour)."""
RIGHTSIZE = {
    "m5.4xlarge": ("m5.xlarge", "0.192"),
    "r5.4xlarge": ("r5.xlarge", "0.252"),
    "n2-standard-16": ("n2-standard-4", "0.1942"),
}
"""Oversized size → (recommended size, its $/hour), for the expected savings in ground truth."""
INTER_AZ_GB = {"payments": 900, "search": 1400, "data": 2200, "web": 600, "shared": 300}
"""AWS inter-AZ data transfer per account and day (no resource id: only the account tells)."""

Tag = tuple[str, str] | None


def rows(table: str) -> list[list[str]]:
    """Parse a `|`-separated table; `#` lines are comments, `[x]` lines set the first cell."""
    out: list[list[str]] = []
    group: list[str] = []
    for line in table.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            group = [line.strip("[]")]
            continue
        out.append(group + [cell.strip() for cell in line.split("|")])
    return out


def tag(cell: str) -> Tag:
    """`key=value` → (key, value); `-` → None."""
    if cell == "-":
        return None
    key, _, value = cell.partition("=")
    return key, value


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    publisher: str
    account: tuple[str, str]
    sub_type: str
    region: tuple[str, str] | None

    @property
    def source(self) -> str:
        return f"demo-{self.key}"


_PROVIDERS = """
# key | ProviderName | publisher | billing account | sub-account type
aws        | AWS          | Amazon Web Services, Inc. | 123456789012         | Account
azure      | Microsoft    | Microsoft                 | 8611537              | Subscription
gcp        | Google Cloud | Google Cloud              | 01A2B3-C4D5E6-F7G8H9 | Project
openai     | OpenAI       | OpenAI                    | org-9xq2acme         | Project
anthropic  | Anthropic    | Anthropic                 | org-acme-7731        | Workspace
snowflake  | Snowflake    | Snowflake Inc.            | ACME-ORG             | Account
kubernetes | Kubernetes   | OpenCost                  | k8s-acme             | Cluster
"""

_REGIONS = {
    "aws": ("us-east-1", "US East (N. Virginia)"),
    "azure": ("westeurope", "West Europe"),
    "gcp": ("europe-west1", "Belgium"),
    "snowflake": ("aws_us_east_1", "AWS US East 1"),
    "kubernetes": ("eu-west-1", "Europe (Ireland)"),
}
PROVIDERS = {
    r[0]: Provider(r[0], r[1], r[2], (r[3], "Acme Corp"), r[4], _REGIONS.get(r[0]))
    for r in rows(_PROVIDERS)
}

_ACCOUNTS = """
# key | SubAccountId | SubAccountName | true team
aws:payments       | 111122223333                         | payments-prod      | payments
aws:search         | 222233334444                         | search-prod        | search
aws:ml             | 333344445555                         | ml-dev             | ml-platform
aws:data           | 444455556666                         | data-prod          | data
aws:web            | 555566667777                         | web-prod           | web
aws:shared         | 666677778888                         | shared-services    | platform
azure:web          | 3f6e1a52-7c1d-4b8e-9a0f-2d5c8e1b7a11 | web-prod           | web
azure:data         | 9c1d4e77-2b3a-4f6c-8d9e-0a1b2c3d4e55 | data-analytics     | data
azure:shared       | b7a05c33-6e2f-4d1a-9b8c-7f6e5d4c3b22 | platform-shared    | platform
gcp:search         | search-prod-4411                     | search-prod        | search
gcp:data           | data-lake-prod                       | data-lake-prod     | data
gcp:ml             | ml-training-dev                      | ml-training-dev    | ml-platform
openai:search      | proj_Rq81search                      | search-rag         | search
openai:web         | proj_Ks20support                     | support-copilot    | web
openai:payments    | proj_Fz44fraud                       | fraud-review       | payments
anthropic:ml       | wrkspc_01MlEvals                     | ml-evals           | ml-platform
anthropic:web      | wrkspc_01Support                     | support-automation | web
anthropic:payments | wrkspc_01PayOps                      | payments-ops       | payments
snowflake:prod     | ACME_PROD                            | acme-prod          | platform
kubernetes:prod    | prod-eu-1                            | prod-eu-1          | platform
"""
ACCOUNTS: dict[str, tuple[str, str, str]] = {r[0]: (r[1], r[2], r[3]) for r in rows(_ACCOUNTS)}
"""Account key (`provider:short`) → (SubAccountId, SubAccountName, true team)."""

VMS = """
# name | size | $/hour | schedule | ownership tag | utilization profile
[aws:payments]
payments-api-7f3          | m5.2xlarge      | 0.384  | flat | team=payments       | normal
payments-api-a21          | m5.2xlarge      | 0.384  | flat | Team=Payments       | normal
payments-api-c90          | m5.2xlarge      | 0.384  | flat | -                   | normal
payments-api-e14          | m5.2xlarge      | 0.384  | flat | team=PAYMENTS       | normal
payments-worker-2b6       | c5.2xlarge      | 0.34   | flat | squad=payments-team | normal
payments-legacy-batch-1d2 | m5.xlarge       | 0.192  | flat | owner=payments-team | idle
[aws:search]
search-indexer-3b7        | c5.4xlarge      | 0.68   | flat | squad=search        | normal
search-query-5e2          | c5.2xlarge      | 0.34   | auto | -                   | -
search-query-8a4          | c5.2xlarge      | 0.34   | auto | -                   | -
search-reindex-tmp-9c4    | c5.2xlarge      | 0.34   | flat | Team=Search         | idle
[aws:ml]
ml-notebook-old-2a1       | p3.2xlarge      | 3.06   | flat | team=ml-platform    | idle
ml-train-gpu-6d1          | g5.2xlarge      | 0.4536 | biz  | squad=ML-Platform   | -
ml-feature-svc-0e7        | m5.xlarge       | 0.192  | flat | -                   | normal
[aws:data]
data-etl-runner-5e1       | r5.4xlarge      | 1.008  | flat | cost-center=CC-4004 | oversized_mem
data-airflow-0c8          | m5.xlarge       | 0.192  | flat | -                   | normal
data-kafka-connect-4f2    | m5.2xlarge      | 0.384  | flat | CostCenter=cc-4004  | normal
[aws:web]
web-api-4b8               | m5.4xlarge      | 0.768  | flat | team=web            | oversized_cpu
web-frontend-11a          | m5.large        | 0.096  | flat | Team=Web            | normal
web-frontend-2f9          | m5.large        | 0.096  | flat | -                   | normal
web-render-6c3            | c5.xlarge       | 0.17   | auto | owner=web-team      | -
[aws:shared]
bastion-01                | t3.medium       | 0.0416 | flat | team=platform       | normal
ci-runner-77e             | c5.2xlarge      | 0.34   | biz  | CostCenter=CC-9000  | -
ci-runner-81d             | c5.2xlarge      | 0.34   | biz  | -                   | -
vpn-gw-3aa                | t3.large        | 0.0832 | flat | -                   | normal
[azure:web]
web-frontend-vm-01        | Standard_D4s_v5 | 0.192  | flat | Team=web            | normal
web-frontend-vm-02        | Standard_D4s_v5 | 0.192  | flat | -                   | normal
web-staging-vm-old        | Standard_D8s_v5 | 0.384  | flat | owner=WEB           | idle
[azure:data]
data-spark-vm-01          | Standard_E8s_v5 | 0.504  | flat | cost-center=CC-4004 | normal
data-spark-vm-02          | Standard_E8s_v5 | 0.504  | flat | -                   | normal
[azure:shared]
jumpbox-vm                | Standard_B2s    | 0.0416 | flat | team=platform       | normal
[gcp:search]
search-embed-worker-1     | n2-standard-16  | 0.7769 | flat | team=search         | normal
search-embed-worker-2     | n2-standard-16  | 0.7769 | flat | -                   | oversized_cpu
[gcp:ml]
ml-train-a100-01          | a2-highgpu-1g   | 3.673  | biz  | squad=ml-platform   | -
[gcp:data]
data-dataproc-m-0         | n2-highmem-8    | 0.524  | flat | cost-center=cc-4004 | normal
"""
"""Virtual machines. schedule: flat = 24x7, auto = 12–24 h a day, biz = 10 h on weekdays (the AWS
GPU trainer is a spot instance). The utilization profile is written hourly for 24x7 machines."""

RDS = """
# account | DB instance | class | $/hour | ownership tag
aws:payments | payments-db         | db.r5.2xlarge | 1.00  | team=payments
aws:payments | payments-db-replica | db.r5.2xlarge | 1.00  | -
aws:search   | search-meta-db      | db.m5.large   | 0.171 | Team=search
aws:data     | data-meta-db        | db.m5.xlarge  | 0.342 | CostCenter=CC-4004
aws:web      | web-sessions-db     | db.r5.large   | 0.25  | -
"""
BUCKETS = """
# account | bucket | GB stored | growth | transfer-out GB/day | ownership tag
aws:payments | payments-receipts-prod | 8000  | 0.08 | 0   | team=payments
aws:search   | search-index-exports   | 3000  | 0.05 | 300 | squad=search
aws:ml       | ml-datasets-dev        | 40000 | 0.15 | 0   | -
aws:data     | data-lake-raw          | 60000 | 0.12 | 0   | cost-center=CC-4004
aws:web      | web-static-assets      | 1000  | 0.02 | 500 | Team=WEB
aws:shared   | shared-logs-archive    | 25000 | 0.10 | 0   | -
"""
FUNCTIONS = """
# account | Lambda function | GB-seconds/day | ownership tag
aws:payments | payments-webhook-handler | 360000 | team=payments
aws:search   | search-suggest-fn        | 840000 | -
aws:web      | web-image-resize         | 540000 | owner=web
"""
"""Lambda functions and their GB-seconds per day."""
AZURE_STORAGE = """
# subscription | storage account | GB stored | ownership tag
azure:web    | webassetsprod   | 5000  | Team=Web
azure:data   | datalakeadls    | 80000 | -
azure:shared | platformbackups | 30000 | CostCenter=CC-9000
"""
WAREHOUSES = """
# Snowflake warehouse | credits/day | true team | object tag
PAYMENTS_REPORTING_WH | 8  | payments    | CostCenter=CC-1001
ANALYTICS_WH          | 45 | data        | team=data
ML_FEATURES_WH        | 20 | ml-platform | squad=ml-platform
DATA_LOADER_WH        | 12 | data        | -
SEARCH_ANALYTICS_WH   | 6  | search      | Team=Search
"""
CONTROLLERS = """
# kind | controller | cores | GiB | true team | ownership label | utilization profile
[payments]
Deployment  | payments-api             | 12 | 48 | payments    | team=payments       | normal
Deployment  | payments-worker          | 6  | 24 | payments    | -                   | normal
[search]
Deployment  | search-frontend          | 8  | 16 | search      | -                   | normal
StatefulSet | search-cache             | 4  | 64 | search      | team=search         | normal
Deployment  | search-ranker-experiment | 8  | 32 | search      | owner=search-team   | idle
[ml-serving]
Deployment  | model-gateway            | 6  | 24 | ml-platform | squad=ml-platform   | normal
Deployment  | embedding-server         | 16 | 64 | ml-platform | -                   | normal
[data-pipelines]
Deployment  | spark-operator           | 2  | 4  | data        | -                   | normal
StatefulSet | kafka                    | 12 | 96 | data        | cost-center=CC-4004 | normal
[web]
Deployment  | web-bff                  | 8  | 16 | web         | team=web            | normal
[kube-system]
DaemonSet   | coredns                  | 2  | 4  | platform    | -                   | normal
[monitoring]
StatefulSet | prometheus               | 8  | 64 | platform    | team=platform       | normal
[__idle__]
Idle        | __idle__                 | 20 | 80 | platform    | -                   | -
"""
"""OpenCost allocations of cluster prod-eu-1 by namespace (`__idle__` is unallocated capacity)."""


@dataclass(frozen=True)
class Workload:
    """An AI agent: one API key calling one model, billed hourly per token type."""

    account: str
    agent_id: str
    api_key: str
    model: str
    peak_input_millions: float
    cache_ratio: float
    output_ratio: float
    tag: Tag

    @property
    def provider(self) -> Provider:
        return PROVIDERS[self.account.split(":")[0]]

    @property
    def team(self) -> str:
        return ACCOUNTS[self.account][2]

    @property
    def prices(self) -> tuple[str, str, str]:
        """USD per 1M tokens: (uncached input, cached input, output)."""
        return MODEL_PRICES[self.model]


MODEL_PRICES = {
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "gpt-4o": ("2.50", "1.25", "10.00"),
    "claude-sonnet-4-5": ("3.00", "0.30", "15.00"),
    "claude-haiku-4-5": ("1.00", "0.10", "5.00"),
}
_WORKLOADS = """
# agent id | API key id | model | peak M input tokens/h | cache hits | output/input | tag
[openai:search]
search-answerer       | key_srchrag01   | gpt-4o-mini       | 40  | 0.5 | 0.10 | team=search
[openai:web]
support-reply-drafter | key_support01   | gpt-4o            | 3   | 0.6 | 0.15 | owner=web-team
[openai:payments]
fraud-explainer       | key_fraud01     | gpt-4o            | 1   | 0.4 | 0.12 | cost-center=CC-1001
[anthropic:ml]
eval-grader           | apikey_eval01   | claude-sonnet-4-5 | 2   | 0.6 | 0.10 | squad=ml-platform
[anthropic:web]
ticket-triage-agent   | apikey_triage01 | claude-haiku-4-5  | 4   | 0.5 | 0.08 | -
[anthropic:payments]
dispute-summarizer    | apikey_disp01   | claude-sonnet-4-5 | 0.8 | 0.5 | 0.10 | team=Payments
"""

WORKLOADS = tuple(
    Workload(acct, agent, key, model, float(peak), float(cache), float(out), tag(owner))
    for acct, agent, key, model, peak, cache, out, owner in rows(_WORKLOADS)
)
