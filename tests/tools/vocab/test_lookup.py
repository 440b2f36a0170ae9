"""Looking phrases up: exact, by label, through the alias table across providers, never fuzzy;
fuzzy suggestions only from `closest`. Real exports of AWS, Azure, GCP and OCI, plus small
catalogs made by hand for model names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from agent.config import Config
from tools.query import DuckDBEngine
from tools.vocab.aliases import ALIASES_PATH, AliasTable, fuzzy_text, key, load_aliases
from tools.vocab.catalog import Vocabulary, load_vocabulary
from tools.vocab.models import VocabEntry
from tools.vocab.sql import LABEL_PAIRS, PLAIN_COLUMNS


@pytest.fixture(scope="module")
def clouds(clouds_con: duckdb.DuckDBPyConnection) -> Vocabulary:
    return load_vocabulary(DuckDBEngine(clouds_con), Config())


def _found(vocab: Vocabulary, phrase: str, *dims: str) -> list[tuple[str, str, str]]:
    return [
        (m.entry.dimension, m.entry.value, m.how) for m in vocab.lookup(phrase, list(dims) or None)
    ]


def test_keys_ignore_case_spaces_punctuation_and_accents() -> None:
    assert key("Amazon EC2") == key("AmazonEC2") == key("amazon-ec2") == "amazonec2"
    assert key("São Paulo") == key("sao paulo")
    assert key("  ") == "" and fuzzy_text("Amazon  EC2 (x)") == "amazon ec2 x"


@pytest.mark.parametrize("phrase", ["AWS Glue", "aws glue", "AWS-Glue", " aws  GLUE "])
def test_exact_matches(clouds: Vocabulary, phrase: str) -> None:
    assert _found(clouds, phrase)[0] == ("ServiceName", "AWS Glue", "exact")


def test_label_matches_name_an_account_by_either_name(clouds: Vocabulary) -> None:
    sub = "ed570627-0265-4620-bb42-bae06bcfa914"
    assert _found(clouds, "Trey Research IT") == [
        ("SubAccountName", "Trey Research IT", "exact"),
        ("SubAccountId", sub, "label"),
    ]
    assert ("SubAccountName", "Trey Research IT", "label") in _found(clouds, sub)
    assert _found(clouds, "US East (N. Virginia)")[0] == (
        "RegionName",
        "US East (N. Virginia)",
        "exact",
    )
    # us-east-1 is also "United States" in the FOCUS sample: no unique label, no label match
    assert _found(clouds, "US East (N. Virginia)", "RegionId") == []


@pytest.mark.parametrize(
    ("phrase", "dimension", "value"),
    [
        ("EC2", "ServiceName", "Amazon Elastic Compute Cloud"),
        ("AmazonEC2", "ServiceName", "Amazon Elastic Compute Cloud"),
        ("Amazon EC2", "ServiceName", "Amazon Elastic Compute Cloud"),
        ("RDS", "ServiceName", "Amazon Relational Database Service"),
        ("s3", "ServiceName", "Amazon Simple Storage Service"),
        ("Glue", "ServiceName", "AWS Glue"),
        ("cloudwatch", "ServiceName", "AmazonCloudWatch"),
        ("EKS", "ServiceName", "Amazon Elastic Container Service for Kubernetes"),
        ("KMS", "ServiceName", "AWS Key Management Service"),
        ("SQS", "ServiceName", "Amazon Simple Queue Service"),
        ("route 53", "ServiceName", "Amazon Route 53"),
        ("VMs", "ServiceName", "Virtual Machines"),
        ("virtual machines", "ServiceName", "Virtual Machines"),
        ("AKS", "ServiceName", "Azure Kubernetes Service"),
        ("azure mysql", "ServiceName", "Azure DB for MySQL"),
        ("azure sql", "ServiceName", "Azure SQL Database"),
        ("blob", "ServiceName", "Storage Accounts"),
        ("GCE", "ServiceName", "Compute Engine"),
        ("oci compute", "ServiceName", "COMPUTE"),
        ("AWS", "ProviderName", "AWS"),
        ("Amazon Web Services", "ProviderName", "AWS"),
        ("Azure", "ProviderName", "Microsoft"),
        ("GCP", "ProviderName", "Google Cloud"),
        ("OCI", "ProviderName", "Oracle"),
        ("RI", "CommitmentDiscountType", "Reserved Instances (RI)"),
        ("savings plans", "CommitmentDiscountType", "Savings Plan"),
        ("credits", "ChargeCategory", "Credit"),
        ("on demand", "PricingCategory", "Standard"),
        ("databases", "ServiceCategory", "Databases"),
        ("virginia", "RegionId", "us-east-1"),
    ],
)
def test_aliases_across_providers(
    clouds: Vocabulary, phrase: str, dimension: str, value: str
) -> None:
    matches = clouds.lookup(phrase)
    assert matches, phrase
    assert matches[0].entry.dimension == dimension
    assert value in {m.entry.value for m in matches if m.entry.dimension == dimension}


def test_one_alias_may_name_several_values(clouds: Vocabulary) -> None:
    london = {(d, v) for d, v, _h in _found(clouds, "London", "RegionId")}
    assert london == {("RegionId", "eu-west-2"), ("RegionId", "uksouth")}
    ri = {v for _d, v, _h in _found(clouds, "reserved instances")}
    assert ri == {"Reserved Instances (RI)", "Reservation"}  # AWS and Azure spell it apart


def test_aliases_never_produce_an_absent_value(clouds: Vocabulary) -> None:
    """Every alias key of the table resolves only to values the catalog holds, as stored."""
    table = load_aliases()
    resolved = 0
    for spelling in {s for _sec, g in table.entries() for s in (*g.names, *g.aliases)}:
        for m in clouds.lookup(spelling):
            assert clouds.entry(m.entry.dimension, m.entry.value) == m.entry
            resolved += m.how == "alias"
    assert resolved > 50
    for absent in ("EBS", "BigQuery", "GKE", "Cosmos DB", "SageMaker", "gpt-4o", "Johannesburg"):
        assert clouds.lookup(absent) == [], absent  # named by an alias, not on these bills


def test_lookup_is_never_fuzzy_and_closest_is(cur_con: duckdb.DuckDBPyConnection) -> None:
    vocab = load_vocabulary(DuckDBEngine(cur_con), Config())
    assert vocab.lookup("Glu") == [] and vocab.lookup("Amazon Elastic Compute") == []
    glue = vocab.closest("Glu")[0]
    assert (glue.entry.dimension, glue.entry.value, glue.how) == (
        "ServiceName",
        "AWS Glue",
        "fuzzy",
    )
    assert glue.entry.cost.quantize(Decimal("0.01")) == Decimal("2389.33")
    assert 75 <= glue.score < 100
    assert glue.entry.first_day == date(2018, 10, 1) and glue.entry.last_day == date(2018, 10, 31)
    assert vocab.closest("cloud wach")[0].entry.value == "AmazonCloudWatch"
    assert vocab.closest("Relational Databse", ["ServiceName"])[0].entry.value == (
        "Amazon Relational Database Service"
    )
    assert vocab.closest("xyzzy") == [] and vocab.closest("q") == []
    assert len(vocab.closest("amazon", limit=2)) == 2


def test_dimension_filters(clouds: Vocabulary) -> None:
    assert {d for d, _v, _h in _found(clouds, "us-east-1")} >= {"RegionId", "AvailabilityZone"}
    assert {d for d, _v, _h in _found(clouds, "us-east-1", "regionid")} == {"RegionId"}
    tags = _found(clouds, "Production", "tag:")
    assert tags and all(d.startswith("tag:") for d, _v, _h in tags)
    assert clouds.search_dimensions(["vtag:"]) == []


def test_best_dimension_first(clouds: Vocabulary) -> None:
    assert _found(clouds, "Oracle")[0][0] == "ProviderName"
    assert [d for d, _v, _h in _found(clouds, "836060457634")][:2] == [
        "SubAccountId",
        "BillingAccountId",
    ]


def _catalog(dimension: str, *values: str) -> Vocabulary:
    entries = [
        VocabEntry(
            dimension=dimension,
            value=v,
            cost=Decimal(10 - i),
            first_day=date(2026, 10, 1),
            last_day=date(2026, 10, 31),
            rows=1,
        )
        for i, v in enumerate(values)
    ]
    return Vocabulary(entries, currency="USD")


MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o:input",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-5:output",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-haiku-20241022",
    "models/gemini-1.5-pro-002",
)


@pytest.mark.parametrize(
    ("phrase", "values"),
    [
        ("gpt-4o", {"gpt-4o-2024-08-06", "gpt-4o:input"}),
        ("4o mini", {"gpt-4o-mini-2024-07-18"}),
        ("claude sonnet 4", {"claude-sonnet-4-20250514"}),
        ("sonnet 4.5", {"claude-sonnet-4-5:output"}),
        ("claude 3.5 sonnet", {"anthropic.claude-3-5-sonnet-20240620-v1:0"}),
        (
            "sonnet",
            {
                "claude-sonnet-4-20250514",
                "claude-sonnet-4-5:output",
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
            },
        ),
        ("haiku", {"claude-3-5-haiku-20241022"}),
        ("gemini 1.5 pro", {"models/gemini-1.5-pro-002"}),
        ("gpt-4.1", set()),
    ],
)
def test_model_names_with_versions_and_vendor_prefixes(phrase: str, values: set[str]) -> None:
    vocab = _catalog("SkuId", *MODELS)
    assert {m.entry.value for m in vocab.lookup(phrase)} == values


def test_the_alias_table_is_valid_and_names_catalogued_dimensions() -> None:
    table = AliasTable.model_validate(
        {"sections": __import__("yaml").safe_load(ALIASES_PATH.read_text())}
    )
    catalogued = {*PLAIN_COLUMNS, *(c for pair in LABEL_PAIRS for c in pair)}
    for name, section in table.sections.items():
        assert set(section.dimensions) <= catalogued, name
        assert section.groups, name
    keyed = table.keyed()
    assert len(keyed) > 500
    assert {"ec2", "ebs", "s3", "rds", "glue", "eks", "lambda", "cloudfront", "vms"} <= set(keyed)
    assert {"cosmosdb", "aks", "gce", "gke", "bigquery", "gcs", "cloudsql", "gpt4o"} <= set(keyed)
