"""The `schedule:` section of `finops.yaml`: which jobs `finops serve` runs, and when.

Each entry names a job kind and a standard five-field cron expression, evaluated in its own time
zone (UTC unless set). Example::

    schedule:
      - name: hourly-sweep
        cron: "5 * * * *"          # ingest + allocate + detect + budgets, at :05 every hour
        job: sweep
      - name: morning-digest
        cron: "0 8 * * mon-fri"
        job: digest                # the latest sweep's digest to Slack
        timezone: Europe/Paris

A bad expression or time zone is a config error naming the job. Expressions are parsed with
APScheduler 3.x's `CronTrigger` (see `agent.serve.scheduler` for why).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from warehouse.settings import Strict

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["JOB_KINDS", "JobKind", "Schedule", "ScheduledJob", "cron_trigger"]

JobKind = Literal["sweep", "digest", "cards", "tickets_sync", "savings_refresh"]
JOB_KINDS: tuple[str, ...] = ("sweep", "digest", "cards", "tickets_sync", "savings_refresh")


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC = re.compile(r"^(\*|\d+|\d+-\d+)(?:/(\d+))?$")


def _weekdays(field: str) -> str:
    """Cron's numeric weekdays (0 and 7 = Sunday) as names.

    APScheduler 3 numbers weekdays from Monday = 0, so `from_crontab("0 0 * * 0")` would fire on
    Mondays; names mean the same to both, so numbers, ranges and steps are expanded to names.
    """
    out: list[str] = []
    for part in field.split(","):
        match = _NUMERIC.match(part)
        if match is None or part == "*":
            out.append(part)
            continue
        base, step = match.group(1), int(match.group(2) or 1)
        if base == "*":
            lo, hi = 0, 6
        else:
            first, _, last = base.partition("-")
            lo = int(first)
            hi = int(last) if last else (7 if match.group(2) else lo)
        if not 0 <= lo <= hi <= 7 or step < 1:
            raise ValueError(f"day of week {part!r}: use 0-7 (0 and 7 are Sunday) or names")
        out.extend(_DAYS[d % 7] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """The trigger for a five-field cron expression in `timezone` (raises ValueError).

    Standard cron meaning throughout, e.g. `cron_trigger("0 8 * * 1-5", "UTC")` fires at 08:00
    UTC Monday to Friday and `"0 0 * * 0"` at midnight on Sundays. APScheduler is imported here,
    when a schedule is validated, not when the config module loads.
    """
    from apscheduler.triggers.cron import CronTrigger

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r} (use an IANA name like UTC)") from None
    fields = cron.split()
    try:
        if len(fields) == 5:
            fields[4] = _weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=zone)
    except ValueError as exc:
        raise ValueError(f"cron {cron!r} is invalid: {exc}") from None


class ScheduledJob(Strict):
    """One scheduled job: `job` runs at every fire time of `cron` (in `timezone`).

    Missed fire times (the service was down) are coalesced: the job runs once for the latest
    one, unless that is older than `misfire_grace_minutes` (then it is recorded as missed).
    """

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    cron: str = Field(description='Five fields: minute hour day month weekday, e.g. "5 * * * *".')
    job: JobKind
    timezone: str = "UTC"
    enabled: bool = True
    lease_minutes: float = Field(
        default=60,
        gt=0,
        description="A claimed run not finished after this long is marked abandoned (its "
        "replica died); the job's next fire time runs as usual.",
    )
    misfire_grace_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Skip a coalesced run whose fire time is older than this (default: run it).",
    )

    @model_validator(mode="after")
    def _parse(self) -> ScheduledJob:
        try:
            cron_trigger(self.cron, self.timezone)
        except ValueError as exc:
            raise ValueError(f"job {self.name!r}: {exc}") from None
        return self


def _unique(jobs: list[ScheduledJob]) -> list[ScheduledJob]:
    names = [j.name for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"schedule job names must be unique: {', '.join(dupes)}")
    return jobs


Schedule = Annotated[list[ScheduledJob], AfterValidator(_unique)]
"""The `schedule:` list (job names unique: the name keys the run lock)."""


CARDS_EVERY_MINUTE = ScheduledJob.model_construct(name="cards", cron="* * * * *", job="cards")
"""Added when Slack is on and the schedule has no `cards` job: every proposal gets its card.
(Built unvalidated: the expression is known good, and validating it would import APScheduler.)"""


def with_card_outbox(jobs: list[ScheduledJob], slack_on: bool) -> list[ScheduledJob]:
    """The schedule `finops serve` runs: the configured jobs, plus a `cards` job every minute
    when Slack is on and none is configured, so proposals made by the CLI or a sweep reach the
    approvals channel without extra configuration (a disabled `cards` job turns it off)."""
    if not slack_on or any(j.job == "cards" for j in jobs):
        return list(jobs)
    name = CARDS_EVERY_MINUTE.name
    while any(j.name == name for j in jobs):
        name += "_"
    return [*jobs, CARDS_EVERY_MINUTE.model_copy(update={"name": name})]
