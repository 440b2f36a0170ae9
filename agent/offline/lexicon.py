"""The closed-class words of spend questions: grammar, measures, metrics, dimensions, charges.

Why: the offline planner understands a question by explaining every word of it. Names (services,
accounts, regions, tag values…) are never listed here: they come from the warehouse's own
vocabulary catalog (`tools.vocab`). What is listed is the small, stable language *around* the
names — function words, how people say "amortized" or "group by", the FOCUS charge categories —
so a word that is neither in this grammar nor in the data is reported as not understood instead
of being silently dropped. Tables are data; `agent.offline.understand` holds the algorithm.
"""

from __future__ import annotations

__all__ = [
    "CHARGE_CONCEPTS",
    "COMPARE_WORDS",
    "DECREASE_WORDS",
    "DIMENSION_WORDS",
    "EDGE_WORDS",
    "EXCLUDE_WORDS",
    "FILLER",
    "FOLLOW_UP_OPENERS",
    "GRAIN_WORDS",
    "INCREASE_WORDS",
    "METRIC_WORDS",
    "NUMBER_WORDS",
    "RANK_WORDS",
    "SHARE_WORDS",
    "SPEND_WORDS",
    "UNIT_MULTIPLIERS",
    "UNIT_QUALIFIERS",
    "UNIT_SPELLINGS",
    "ChargeConcept",
    "words",
]


def words(text: str) -> frozenset[str]:
    """A word table written as running text (one word per whitespace-separated item)."""
    return frozenset(text.split())


FILLER: frozenset[str] = words(
    """
    a an the this that these those our my your their its his her we us i you they it me them
    what whats which who whom whose how much many was were is are be been being am do does did
    done doing have has had having can could would should will shall may might must please
    pls thanks thank tell show give get got list report display find see look let lets know
    need want wondering wonder about on in at of for to from into onto over under with within
    across per each every all any some total totals overall altogether combined entire whole
    and or nor but also as so then than just only too very really actually roughly approximately
    around approx exact exactly precisely amount amounts number figure figures value sum summary
    there here where when while during through throughout via by up down out off again
    company companys org organization organisation organizations business firm team's
    everything anything something whatever whichever
    did we spend spent spending spends pay paid paying charge charged
    dollars dollar usd eur gbp money budget-wise
    ok okay hey hi hello quick quickly now currently current so-far far yet still
    is it's it’s that's there's what's who's how's
    be me my mine ours own
    came come comes coming went go goes going make makes made making take takes took use uses
    used using run runs ran running incur incurs incurred incurring generate generated
    accrue accrued rack racked drive drove driven happen happened cause caused look looks
    like break breaking broke come-from came-from attributable attributed due owe owed
    everyone anyone people folks guys y'all yall
    money-wise altogether in-total grand tag tags tagged label labels labeled labelled
    receive received receiving get gets getting back average avg mean typical
    complete full whole entire bill's worth pure no
    """
)
"""Function and filler words: explained by being grammar, they never name a scope."""

EDGE_WORDS: frozenset[str] = words(
    """
    a an the of in on at for to from and or by with per our my we what how much did is was
    were are this that these those which who did does do
    """
)
"""Words a multi-word name never starts or ends with ("the AWS", "EC2 in")."""

SPEND_WORDS: frozenset[str] = words(
    """
    spend spent spending spends cost costs costing costed bill bills billing billed invoice
    invoiced invoices charge charges charged expense expenses expenditure paid pay paying price
    priced outlay outlays consumption consume consumed
    """
)
"""Words that make a question a spend question (also fillers once it is one)."""

METRIC_WORDS: dict[str, str] = {
    "list cost": "list", "list price": "list", "list prices": "list", "list": "list",
    "on-demand equivalent": "list", "public price": "list", "public prices": "list",
    "on-demand prices": "list", "on-demand price": "list", "on-demand list prices": "list",
    "on-demand list price": "list", "on-demand rates": "list", "on-demand rate": "list",
    "list-price": "list", "undiscounted": "list", "before discounts": "list",
    "amortized": "effective", "amortised": "effective", "amortization": "effective",
    "effective": "effective", "effective cost": "effective", "net amortized": "effective",
    "billed": "billed", "invoiced": "billed", "unblended": "billed", "billed cost": "billed",
    "contracted": "contracted", "negotiated": "contracted", "contract price": "contracted",
    "contracted cost": "contracted",
}  # fmt: skip
"""Phrases naming the money measure -> the `metric` of a spend request."""

GRAIN_WORDS: dict[str, str] = {
    "daily": "day", "per day": "day", "by day": "day", "each day": "day", "day by day": "day",
    "day-by-day": "day", "weekly": "week", "per week": "week", "by week": "week",
    "each week": "week", "week by week": "week", "monthly": "month", "per month": "month",
    "by month": "month", "each month": "month", "month by month": "month", "trend": "day",
    "over time": "day",
}  # fmt: skip
"""Phrases asking for a time series -> the request's grain."""

DIMENSION_WORDS: dict[str, tuple[str, ...]] = {
    "service": ("ServiceName",), "services": ("ServiceName",), "product": ("ServiceName",),
    "products": ("ServiceName",),
    "service category": ("ServiceCategory",), "service categories": ("ServiceCategory",),
    "category": ("ServiceCategory",), "categories": ("ServiceCategory",),
    "provider": ("ProviderName",), "providers": ("ProviderName",), "cloud": ("ProviderName",),
    "clouds": ("ProviderName",), "vendor": ("ProviderName",), "vendors": ("ProviderName",),
    "account": ("SubAccountName", "SubAccountId"), "accounts": ("SubAccountName", "SubAccountId"),
    "sub-account": ("SubAccountName", "SubAccountId"),
    "sub-accounts": ("SubAccountName", "SubAccountId"),
    "subaccount": ("SubAccountName", "SubAccountId"),
    "subaccounts": ("SubAccountName", "SubAccountId"),
    "subscription": ("SubAccountName", "SubAccountId"),
    "subscriptions": ("SubAccountName", "SubAccountId"),
    "project": ("SubAccountName", "SubAccountId"), "projects": ("SubAccountName", "SubAccountId"),
    "compartment": ("SubAccountName", "SubAccountId"),
    "compartments": ("SubAccountName", "SubAccountId"),
    "account id": ("SubAccountId",), "account ids": ("SubAccountId",),
    "billing account": ("BillingAccountName", "BillingAccountId"),
    "billing accounts": ("BillingAccountName", "BillingAccountId"),
    "payer": ("BillingAccountName", "BillingAccountId"),
    "payer account": ("BillingAccountName", "BillingAccountId"),
    "region": ("RegionId", "RegionName"), "regions": ("RegionId", "RegionName"),
    "location": ("RegionId", "RegionName"), "locations": ("RegionId", "RegionName"),
    "resource": ("ResourceId", "ResourceName"), "resources": ("ResourceId", "ResourceName"),
    "resource id": ("ResourceId",), "resource ids": ("ResourceId",),
    "sku": ("SkuId",), "skus": ("SkuId",), "model": ("SkuId",), "models": ("SkuId",),
    "meter": ("SkuMeter",), "meters": ("SkuMeter",),
    "charge category": ("ChargeCategory",), "charge categories": ("ChargeCategory",),
    "charge type": ("ChargeCategory",), "charge types": ("ChargeCategory",),
    "charge frequency": ("ChargeFrequency",),
    "commitment type": ("CommitmentDiscountType",),
    "commitment types": ("CommitmentDiscountType",),
    "pricing category": ("PricingCategory",),
    "day": ("ChargePeriodStart",), "days": ("ChargePeriodStart",),
    "date": ("ChargePeriodStart",), "dates": ("ChargePeriodStart",),
}  # fmt: skip
"""Words naming a FOCUS dimension (the first listed that the catalog has values for is used).
Tag keys and virtual tag names from the catalog are dimension words too ("team", "env")."""

RANK_WORDS: dict[str, int | None] = {
    "top": None, "biggest": None, "largest": None, "most expensive": None, "highest": None,
    "costliest": None, "priciest": None, "the most": 1, "most": 1, "heaviest": None,
    "main": None, "leading": None, "cheapest": None, "smallest": None, "least": 1,
    "lowest": None,
}  # fmt: skip
"""Ranking phrases -> a default N (None: 1 for a singular noun, 5 for a plural one)."""
ASCENDING_RANK = frozenset({"cheapest", "smallest", "least", "lowest"})

INCREASE_WORDS: frozenset[str] = words(
    """
    grew grow grows growing growth increase increased increases increasing rose rise rises
    rising risen jump jumped jumps surge surged spike spiked spikes climbed climb gained
    went-up go-up gone-up going-up
    """
)
DECREASE_WORDS: frozenset[str] = words(
    """
    decrease decreased decreases decreasing drop dropped drops fell fall falls falling shrank
    shrink shrunk declined decline declines reduced reduction went-down go-down gone-down
    """
)
COMPARE_WORDS: frozenset[str] = words(
    """
    change changed changes moved movers mover move moves difference differences delta compare
    compared comparison vs versus against mom month-over-month qoq yoy wow why
    explain driver drivers drove reason reasons behind
    """
)
"""Growth questions: compare the period with the previous one, ranked by change."""

SHARE_WORDS: frozenset[str] = words("""share percent percentage proportion fraction portion %""")

EXCLUDE_WORDS: frozenset[str] = words(
    """
    excluding exclude excludes excluded except without minus ex not non besides but-not
    other-than apart-from aside-from leaving-out not-including net-of not-counting outside
    ignoring ignore omitting less
    """
)
"""Words that negate the names that follow them (until a non-name word)."""

FOLLOW_UP_OPENERS: frozenset[str] = words(
    """and what-about how-about same also only just now then instead same-for ok so but"""
)
"""A follow-up in a thread often opens with these ("and in December?", "what about Azure?")."""

NUMBER_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20,
}  # fmt: skip


class ChargeConcept:
    """A charge word ("RI fees", "credits", "tax") as FOCUS filters, resolved against the
    catalog: each (dimension, needles) keeps the dimension's values containing any needle."""

    def __init__(self, label: str, *parts: tuple[str, tuple[str, ...]]) -> None:
        self.label = label
        self.parts = parts


CHARGE_CONCEPTS: dict[str, ChargeConcept] = {}
"""Phrases -> charge concepts (filled below: several phrases share one concept)."""


def _concept(phrases: str, concept: ChargeConcept) -> None:
    for phrase in phrases.split("|"):
        CHARGE_CONCEPTS[phrase] = concept


_concept(
    "tax|taxes|vat|sales tax|gst",
    ChargeConcept("tax", ("ChargeCategory", ("tax",))),
)
_concept(
    "credit|credits|promotional credits|promo credits",
    ChargeConcept("credits", ("ChargeCategory", ("credit",))),
)
_concept(
    "refund|refunds|corrections|correction",
    ChargeConcept("refunds and corrections", ("ChargeClass", ("correction",))),
)
_concept(
    "adjustment|adjustments",
    ChargeConcept("adjustments", ("ChargeCategory", ("adjustment",))),
)
_concept(
    "ri fees|ri fee|reserved instance fees|reserved instance fee|reservation fees|"
    "reservation fee|ri charges|reserved instance charges|ri purchases|reservation purchases|"
    "reserved instances fees|reserved instance purchases",
    ChargeConcept(
        "reserved instance fees",
        ("ChargeCategory", ("purchase",)),
        ("CommitmentDiscountType", ("reserv",)),
    ),
)
_concept(
    "savings plan fees|savings plans fees|savings plan fee|savings plan charges|"
    "savings plan purchases|sp fees",
    ChargeConcept(
        "savings plan fees",
        ("ChargeCategory", ("purchase",)),
        ("CommitmentDiscountType", ("savings plan",)),
    ),
)
_concept(
    "commitment fees|commitment purchases|commitment charges",
    ChargeConcept("commitment fees", ("ChargeCategory", ("purchase",))),
)
_concept(
    "fees|fee",
    ChargeConcept("fees (purchases)", ("ChargeCategory", ("purchase",))),
)
_concept(
    "recurring",
    ChargeConcept("recurring charges", ("ChargeFrequency", ("recurring",))),
)
_concept(
    "purchases|purchase|one-time purchases",
    ChargeConcept("purchases", ("ChargeCategory", ("purchase",))),
)
_concept(
    "usage charges|usage costs|usage cost|usage-based charges|usage",
    ChargeConcept("usage charges", ("ChargeCategory", ("usage",))),
)
_concept(
    "one-time fees|one-time charges|one time fees|upfront fees|upfront",
    ChargeConcept("one-time charges", ("ChargeFrequency", ("one-time",))),
)
_concept(
    "recurring fees|recurring charges|monthly fees",
    ChargeConcept("recurring charges", ("ChargeFrequency", ("recurring",))),
)
_concept(
    "support|support plan|support fees|premium support|support charges",
    ChargeConcept("support", ("ServiceName", ("support",))),
)


UNIT_MULTIPLIERS: dict[str, int] = {
    "million": 1_000_000, "1m": 1_000_000, "m": 1_000_000, "mtok": 1_000_000,
    "thousand": 1000, "1k": 1000, "k": 1000, "hundred": 100, "billion": 1_000_000_000,
}  # fmt: skip
"""`per million tokens` -> 1,000,000 units per price."""
UNIT_QUALIFIERS = words("instance vm node db database compute server container core average")
"""Words before a unit that do not change it (`instance-hour` is measured in hours)."""
UNIT_SPELLINGS: dict[str, str] = {
    "hrs": "hour", "hr": "hour", "h": "hour", "mo": "month", "mos": "month",
    "gigabyte": "gb", "terabyte": "tb", "req": "request", "reqs": "request",
    "tok": "token", "toks": "token",
}  # fmt: skip
"""Abbreviations in usage units -> one spelling (`GB-Mo` and `GB-month` are the same unit)."""
