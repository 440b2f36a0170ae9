"""Reading spend questions against a catalog: every phrase applied and echoed, or clarified.

The catalog here is a small in-memory one (names a CUR and a multi-cloud company would hold);
the real catalog and the question suite over real bills are tested in tests/tools/vocab and
tests/evals/test_questions.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import ClassVar

import pytest

from agent.offline.understand import Understanding, understand
from tools.vocab.catalog import Match, VocabEntry

AS_OF = date(2018, 11, 30)


class FakeVocabulary:
    """The catalog contract (tools.vocab.catalog.Vocabulary) over a fixed list of values."""

    currency = "USD"
    first_day: date | None = date(2018, 9, 1)
    last_day: date | None = AS_OF
    months: ClassVar[list[date]] = [date(2018, 9, 1), date(2018, 10, 1), date(2018, 11, 1)]
    aliases: ClassVar[dict[str, str]] = {
        "ec2": "Amazon Elastic Compute Cloud",
        "rds": "Amazon Relational Database Service",
        "aws": "AWS",
        "azure": "Microsoft",
        "vms": "Virtual Machines",
    }

    def __init__(self) -> None:
        rows = [
            ("ProviderName", "AWS"),
            ("ProviderName", "Microsoft"),
            ("ServiceName", "Amazon Elastic Compute Cloud"),
            ("ServiceName", "Amazon Relational Database Service"),
            ("ServiceName", "AWS Glue"),
            ("ServiceName", "Virtual Machines"),
            ("ServiceCategory", "Compute"),
            ("SubAccountName", "granite-prod"),
            ("SubAccountName", "granite-dev"),
            ("RegionId", "us-east-1"),
            ("RegionId", "eu-west-1"),
            ("ChargeCategory", "Usage"),
            ("ChargeCategory", "Purchase"),
            ("ChargeCategory", "Tax"),
            ("ChargeCategory", "Credit"),
            ("CommitmentDiscountType", "Reserved Instances (RI)"),
            ("tag:team", "cobalt"),
            ("tag:Team", "Cobalt"),
            ("tag:env", "prod"),
        ]
        self._entries = [
            VocabEntry(
                dimension=d,
                value=v,
                label=None,
                cost=Decimal("100") + i,
                first_day=date(2018, 9, 1),
                last_day=AS_OF,
                rows=10,
            )
            for i, (d, v) in enumerate(rows)
        ]

    def dimensions(self) -> list[str]:
        return list(dict.fromkeys(e.dimension for e in self._entries))

    def entries(self, dimension: str) -> list[VocabEntry]:
        return [e for e in self._entries if e.dimension == dimension]

    def tag_keys(self) -> list[str]:
        return [d[4:] for d in self.dimensions() if d.startswith("tag:")]

    def lookup(self, phrase: str, dimensions: Sequence[str] | None = None) -> list[Match]:
        key = " ".join(phrase.casefold().replace("-", " ").split())
        target = self.aliases.get(key)
        out = []
        for e in self._entries:
            if dimensions and e.dimension not in dimensions:
                continue
            if " ".join(e.value.casefold().replace("-", " ").split()) == key:
                out.append(Match(entry=e, phrase=phrase, how="exact", score=100))
            elif target == e.value:
                out.append(Match(entry=e, phrase=phrase, how="alias", score=100))
        return out

    def closest(
        self, phrase: str, dimensions: Sequence[str] | None = None, limit: int = 3
    ) -> list[Match]:
        key = phrase.casefold()
        return [
            Match(entry=e, phrase=phrase, how="fuzzy", score=80)
            for e in self._entries
            if (not dimensions or e.dimension in dimensions) and key[:3] in e.value.casefold()
        ][:limit]


@pytest.fixture
def vocab() -> FakeVocabulary:
    return FakeVocabulary()


def read(vocab: FakeVocabulary, question: str, previous: Understanding | None = None):
    return understand(question, vocab, AS_OF, previous)  # type: ignore[arg-type]


def filters(u: Understanding) -> dict[str, tuple[list[str], bool]]:
    assert u.request is not None
    return {f.dimension: (f.values, f.exclude) for f in u.request.filters}


def test_a_service_alias_and_a_month_become_one_exact_scope(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did we spend on EC2 in November 2018?")
    assert u.answerable
    assert filters(u) == {"ServiceName": (["Amazon Elastic Compute Cloud"], False)}
    assert (u.request.since, u.request.until) == (date(2018, 11, 1), date(2018, 11, 30))
    assert u.mentions[0].how == "alias"


def test_an_account_by_name_is_a_filter_not_the_whole_company(vocab: FakeVocabulary) -> None:
    u = read(vocab, "How much did the account granite-prod cost in October 2018?")
    assert filters(u) == {"SubAccountName": (["granite-prod"], False)}


def test_an_unknown_name_is_clarified_with_the_closest_values(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did we spend on the service Glu in October 2018?")
    assert not u.answerable
    assert "no service called 'Glu'" in u.clarifications[0].message
    assert [m.entry.value for m in u.clarifications[0].closest] == ["AWS Glue"]


def test_an_unexplained_word_is_never_dropped(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did we spend on zorblax in October 2018?")
    assert not u.answerable
    assert u.clarifications[0].phrase == "zorblax"


def test_exclusion_and_metric_are_applied(vocab: FakeVocabulary) -> None:
    u = read(vocab, "amortized cost on AWS in October 2018, excluding RDS")
    assert u.request is not None and u.request.metric == "effective"
    assert filters(u) == {
        "ProviderName": (["AWS"], False),
        "ServiceName": (["Amazon Relational Database Service"], True),
    }


def test_non_prod_negates_the_tag_value(vocab: FakeVocabulary) -> None:
    u = read(vocab, "non-prod spend in October 2018")
    assert filters(u) == {"tag:env": (["prod"], True)}


def test_a_team_covers_every_spelling_of_the_key(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did team cobalt spend in October 2018?")
    assert filters(u) == {"tag:Team|team": (["Cobalt", "cobalt"], False)}


def test_group_by_and_top_n(vocab: FakeVocabulary) -> None:
    u = read(vocab, "top 3 services by cost in October 2018")
    assert u.request is not None
    assert (u.request.by, u.request.top) == (["ServiceName"], 3)
    which = read(vocab, "which account spent the most in Oct 2018?")
    assert which.request is not None
    assert (which.request.by, which.request.top) == (["SubAccountName"], 1)


def test_charge_words_resolve_to_the_catalogs_values(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did we pay in RI fees in October 2018?")
    assert filters(u) == {
        "ChargeCategory": (["Purchase"], False),
        "CommitmentDiscountType": (["Reserved Instances (RI)"], False),
    }
    refunds = read(vocab, "How much were refunds in October 2018?")
    # no refund rows, but Correction is a FOCUS ChargeClass value: a zero figure, not all spend
    assert filters(refunds) == {"ChargeClass": (["Correction"], False)}
    plans = read(vocab, "What did savings plan fees cost in October 2018?")
    assert not plans.answerable  # a commitment type the bills never name: said, not guessed
    assert "savings plan fees" in plans.clarifications[0].message


def test_growth_between_two_months_compares_calendar_months(vocab: FakeVocabulary) -> None:
    u = read(vocab, "Which service grew the most from September to October 2018?")
    assert u.request is not None and u.request.measure == "growth"
    assert (u.request.since, u.request.until) == (date(2018, 10, 1), date(2018, 10, 31))
    assert (u.request.compare_since, u.request.compare_until) == (
        date(2018, 9, 1),
        date(2018, 9, 30),
    )
    assert u.request.direction == "increase"


def test_share_of_a_whole(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What share of our AWS spend was EC2 in October 2018?")
    assert u.request is not None and u.request.measure == "share"
    assert [f.dimension for f in u.request.share_within] == ["ProviderName"]


def test_a_period_without_data_is_clarified(vocab: FakeVocabulary) -> None:
    u = read(vocab, "What did we spend on EC2 in March 2017?")
    assert not u.answerable
    assert "no cost data" in u.clarifications[0].message


def test_follow_ups_change_only_what_they_say(vocab: FakeVocabulary) -> None:
    first = read(vocab, "What did we spend on EC2 in October 2018?")
    second = read(vocab, "and in November?", first)
    assert second.follow_up and second.request is not None
    assert filters(second) == filters(first)
    assert second.request.since == date(2018, 11, 1)
    third = read(vocab, "what about RDS?", second)
    assert filters(third) == {"ServiceName": (["Amazon Relational Database Service"], False)}
    assert third.request is not None and third.request.since == date(2018, 11, 1)
    fourth = read(vocab, "by region?", third)
    assert fourth.request is not None and fourth.request.by == ["RegionId"]
    azure = read(vocab, "what about Azure?", first)
    assert filters(azure) == {"ProviderName": (["Microsoft"], False)}


def test_not_a_spend_question_is_left_to_other_readers(vocab: FakeVocabulary) -> None:
    assert not read(vocab, "hello there").spend_signal


def test_an_exclusion_with_its_dimension_word_stays_an_exclusion(vocab: FakeVocabulary) -> None:
    first = read(vocab, "What did EC2 cost in October 2018?")
    u = read(vocab, "excluding account granite-dev", first)
    assert u.follow_up
    assert filters(u)["SubAccountName"] == (["granite-dev"], True)
