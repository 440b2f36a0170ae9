"""Forecast answers in Slack get a chart with their interval: the offline planner routes a
month-end question to `spend_forecast`, the answer states the total and the interval with the
currency, and a PNG (actual, forecast line, 80% and 95% bands) is uploaded to the thread through
`files.getUploadURLExternal` / `completeUploadExternal` on the Web API double."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock
from tests.helpers.slack import Harness
from tests.helpers.vtags import Row, add_rows
from tools.forecast.path import forecast_path
from tools.forecast.service import ForecastQuery, forecast
from tools.spend.engine import parse_filter
from warehouse.db import connect

FIRST, LAST = date(2026, 9, 1), date(2026, 11, 20)
TEAMS = {"team": {"sources": ["team"]}}
PROGRESS_TS = "1790000000.000001"


def _cost(day: date, team: str) -> Decimal:
    """Weekdays busier than weekends, a slow upward trend, search three times payments."""
    base = Decimal(300 if day.weekday() >= 5 else 1000) + (day - FIRST).days * 2
    return base * (3 if team == "search" else 1) + (day.day % 3) * 7


def _history(home: Path) -> None:
    con = connect(home / "warehouse.duckdb")
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    add_rows(
        con,
        [
            Row(cost=str(_cost(d, team)), day=d, ServiceName=svc, ResourceId=f"{team}-1",
                tags={"team": team})
            for d in days
            for team, svc in (("payments", "Amazon EC2"), ("search", "Amazon S3"))
        ],
    )  # fmt: skip
    con.close()


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def harness(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    home = tmp_path / "home"
    h = Harness(home, double, Clock(), None, virtual_tags=TEAMS)  # no model: offline planner
    _history(home)
    yield h
    h.close()


def _decode(png: bytes) -> tuple[int, int]:
    """Height and width of the decoded image (matplotlib reads PNG through Pillow)."""
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    return int(pixels.shape[0]), int(pixels.shape[1])


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_forecast_answer_uploads_a_chart_with_its_interval(
    harness: Harness, double: SlackDouble
) -> None:
    harness.mention("what will we spend by the end of the month?", user="U0ANALYST", ts="1.0001")
    harness.idle()

    final = harness.updates(PROGRESS_TS)[-1]
    text = final["text"]
    head = r"forecast, 2026-11-01\.\.2026-11-30 \(as of 2026-11-20, billed cost, USD; "
    head += r"scope all spend\)"
    total = re.search(head + r": USD ([\d,]+\.\d\d) = ", text)
    band = re.search(r"80% interval USD ([\d,]+\.\d\d)\.\.USD ([\d,]+\.\d\d)", text)
    assert total and band, text
    low, high = _money(band[1]), _money(band[2])
    assert low < _money(total[1]) < high
    assert any("forecasting" in json.dumps(u) for u in harness.updates(PROGRESS_TS))

    asked = double.of("files.getUploadURLExternal")
    done = double.of("files.completeUploadExternal")
    assert len(asked) == 1 and asked[0]["filename"] == "chart.png"
    assert len(done) == 1 and done[0]["channel_id"] == "C0CHAT"
    assert done[0]["thread_ts"] == "1.0001"
    title = done[0]["files"][0]["title"]
    assert "Month-end forecast" in title and "all spend" in title and "USD" in title
    assert "2026-11-01..2026-11-30" in title
    caption = done[0]["initial_comment"]
    assert f"80% USD {band[1]}..{band[2]}" in caption and "95% USD" in caption

    png = double.uploads[done[0]["files"][0]["id"]]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode(png) == (600, 800)


def test_path_matches_the_stated_forecast_to_the_cent(harness: Harness) -> None:
    """The chart is drawn from the same history, model and seed as the answer: the actual to
    date, the total and both bands on the last day equal the tool's figures."""
    ctx = harness.rt.tool_context("test", None)
    query = ForecastQuery(filters=[parse_filter("vtag:team=payments")])
    result = forecast(ctx.engine(), ctx.config, query, today=ctx.today())
    data = result.model_dump(mode="json")
    path = forecast_path(ctx.engine(), ctx.config, data)
    harness.rt.close_readonly()

    assert path.as_of == LAST and path.scope() == "vtag:team=payments"
    assert path.actual_days[0] == date(2026, 11, 1) and path.actual_days[-1] == LAST
    assert path.actual_to_date == result.total.actual_to_date
    assert path.actual_to_date == sum(_cost(d, "payments") for d in path.actual_days)
    assert len(path.forecast_days) == 10 and path.forecast_days[-1] == date(2026, 11, 30)
    assert path.forecast_total == result.total.forecast_total
    for level in (80, 95):
        stated = result.total.interval(level)
        assert path.interval(level) == (stated.lower, stated.upper)
    eighty, ninety_five = path.interval(80), path.interval(95)
    assert ninety_five[0] <= eighty[0] < eighty[1] <= ninety_five[1]
    widths = [hi - lo for lo, hi in zip(path.bands[0].lower, path.bands[0].upper, strict=True)]
    assert widths[-1] > widths[0]  # the fan opens with the horizon


def test_a_scoped_viewer_gets_a_chart_of_their_scope_only(
    harness: Harness, double: SlackDouble
) -> None:
    harness.mention("what will we spend by the end of the month?", user="U0PAYVIEW", ts="2.0001")
    harness.idle()
    done = double.of("files.completeUploadExternal")
    assert len(done) == 1
    assert "vtag:team=payments" in done[0]["files"][0]["title"]
    total = re.search(r"total USD ([\d,.]+)", done[0]["initial_comment"])
    assert total is not None
    payments_so_far = sum(_cost(date(2026, 11, d), "payments") for d in range(1, 21))
    search_so_far = sum(_cost(date(2026, 11, d), "search") for d in range(1, 21))
    assert payments_so_far < _money(total[1]) < search_so_far  # payments' month, not everyone's
