"""Container usage for the collected workloads: from the resource metrics API (metrics.k8s.io, the
current sample metrics-server keeps) or from Prometheus (`query_range` over the lookback window).

Pods are matched to their workload by name, the way the controllers name them: a Deployment's
pods are `NAME-<pod-template-hash>-<5 chars>`, a StatefulSet's `NAME-<ordinal>` (the longest
matching workload name wins). That also works for pods that no longer exist, which Prometheus
history is full of. Pods of other controllers (DaemonSets, Jobs) and bare pods are not counted.

Each (workload, container, period) gets:

* on the container (`…/kind/name/container`): the mean per pod of `cpu_usage_cores` and
  `memory_usage_bytes` — comparable with the per-pod request;
* on the workload (`…/kind/name`): the sum over its pods and containers.

Prometheus queries (cAdvisor metrics, as the kubelet exports them), one value per period, with
SEL = `container!="",container!="POD"` (plus `CLUSTER_LABEL="cluster"` when configured):

    sum by (namespace, pod, container)
      (rate(container_cpu_usage_seconds_total{SEL}[PERIOD]))
    sum by (namespace, pod, container)
      (avg_over_time(container_memory_working_set_bytes{SEL}[PERIOD]))

evaluated at the end of each period; the sample's `ts` is the period's start. Long windows are
split so that no query asks for more than 10,000 points per series (Prometheus refuses 11,000).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from kubernetes.utils import parse_quantity

from warehouse.inventory.models import CollectError, Sample

__all__ = [
    "MAX_POINTS",
    "PodUsage",
    "Prometheus",
    "aggregate",
    "from_metrics_api",
    "owner_matcher",
    "quantity",
]

MAX_POINTS = 10_000
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_SELECT = 'container!="",container!="POD"'


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`250m`, `1.5`, `512Mi`, `1G`) as a float, None when absent/bad."""
    if value is None or value == "":
        return None
    try:
        return float(Decimal(parse_quantity(value)))
    except (ValueError, TypeError, ArithmeticError):
        return None


@dataclass(frozen=True)
class PodUsage:
    """One container of one pod in one period."""

    namespace: str
    pod: str
    container: str
    ts: datetime
    cpu_cores: float | None = None
    memory_bytes: float | None = None


def owner_matcher(
    workloads: Iterable[tuple[str, str, str, str]],
) -> Callable[[str, str], str | None]:
    """From (workload id, namespace, kind, name), a function (namespace, pod) → workload id."""
    patterns: dict[str, list[tuple[int, re.Pattern[str], str]]] = defaultdict(list)
    for wid, ns, kind, name in workloads:
        if kind == "deployment":
            rx = re.compile(rf"{re.escape(name)}-[a-z0-9]{{1,10}}-[a-z0-9]{{5}}")
        else:
            rx = re.compile(rf"{re.escape(name)}-\d+")
        patterns[ns].append((len(name), rx, wid))
    for entries in patterns.values():
        entries.sort(key=lambda e: -e[0])

    def owner(ns: str, pod: str) -> str | None:
        for _n, rx, wid in patterns.get(ns, []):
            if rx.fullmatch(pod):
                return wid
        return None

    return owner


def _floor(ts: datetime, period: int) -> datetime:
    seconds = int(ts.replace(tzinfo=UTC).timestamp())
    return datetime.fromtimestamp(seconds - seconds % period, UTC).replace(tzinfo=None)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def from_metrics_api(items: Iterable[Mapping[str, Any]], period: int) -> list[PodUsage]:
    """PodMetrics objects → one usage row per container, at the period their sample falls in."""
    out = []
    for item in items:
        meta = item.get("metadata") or {}
        stamp = item.get("timestamp") or meta.get("creationTimestamp")
        if not stamp:
            continue
        ts = _floor(_parse_time(str(stamp)), period)
        for c in item.get("containers") or []:
            usage = c.get("usage") or {}
            out.append(
                PodUsage(
                    str(meta.get("namespace", "")),
                    str(meta.get("name", "")),
                    str(c.get("name", "")),
                    ts,
                    quantity(usage.get("cpu")),
                    quantity(usage.get("memory")),
                )
            )
    return out


def aggregate(
    usage: Iterable[PodUsage], owner: Callable[[str, str], str | None], source: str
) -> tuple[list[Sample], int]:
    """Per-pod means on containers and totals on workloads; also how many pods matched none."""
    cells: dict[tuple[str, str, datetime], dict[str, list[float]]] = defaultdict(
        lambda: {"cpu": [], "mem": []}
    )
    unmatched: set[tuple[str, str]] = set()
    for u in usage:
        wid = owner(u.namespace, u.pod)
        if wid is None:
            unmatched.add((u.namespace, u.pod))
            continue
        cell = cells[(wid, u.container, u.ts)]
        if u.cpu_cores is not None:
            cell["cpu"].append(u.cpu_cores)
        if u.memory_bytes is not None:
            cell["mem"].append(u.memory_bytes)
    samples: list[Sample] = []
    totals: dict[tuple[str, datetime], dict[str, float]] = defaultdict(dict)
    names = (("cpu", "cpu_usage_cores"), ("mem", "memory_usage_bytes"))
    for (wid, container, ts), cell in sorted(cells.items()):
        for key, metric in names:
            values = cell[key]
            if not values:
                continue
            rid = f"{wid}/{container}"
            samples.append(Sample(rid, metric, ts, sum(values) / len(values), source))
            total = totals[(wid, ts)]
            total[metric] = total.get(metric, 0.0) + sum(values)
    for (wid, ts), metrics in sorted(totals.items()):
        for metric, value in metrics.items():
            samples.append(Sample(wid, metric, ts, value, source))
    return samples, len(unmatched)


@dataclass
class Prometheus:
    """A Prometheus HTTP API (`/api/v1/query_range`), with retries through `backoff`."""

    url: str
    backoff: Callable[[int], None]
    retries: int = 4
    cluster_label: str | None = None
    cluster: str | None = None
    timeout: float = 60.0
    calls: int = 0

    def selector(self) -> str:
        if self.cluster_label and self.cluster:
            value = self.cluster.replace("\\", "\\\\").replace('"', '\\"')
            return f'{_SELECT},{self.cluster_label}="{value}"'
        return _SELECT

    def queries(self, period: int) -> dict[str, str]:
        sel = self.selector()
        return {
            "cpu": f"sum by (namespace, pod, container) "
            f"(rate(container_cpu_usage_seconds_total{{{sel}}}[{period}s]))",
            "mem": f"sum by (namespace, pod, container) "
            f"(avg_over_time(container_memory_working_set_bytes{{{sel}}}[{period}s]))",
        }

    def usage(self, start: datetime, end: datetime, period: int) -> list[PodUsage]:
        """CPU and memory per pod container for every period in [start, end)."""
        values: dict[tuple[str, str, str, datetime], dict[str, float]] = defaultdict(dict)
        with httpx.Client(base_url=self.url, timeout=self.timeout) as http:
            for key, query in self.queries(period).items():
                for series in self._range(http, query, start, end, period):
                    labels = series.get("metric") or {}
                    ident = (labels.get("namespace", ""), labels.get("pod", ""))
                    container = labels.get("container", "")
                    for stamp, text in series.get("values") or []:
                        ts = datetime.fromtimestamp(float(stamp), UTC).replace(tzinfo=None)
                        ts -= timedelta(seconds=period)
                        try:
                            number = float(text)
                        except ValueError:
                            continue
                        if number == number:  # NaN from an empty rate window
                            values[(*ident, container, ts)][key] = number
        return [
            PodUsage(ns, pod, c, ts, v.get("cpu"), v.get("mem"))
            for (ns, pod, c, ts), v in sorted(values.items())
        ]

    def _range(
        self, http: httpx.Client, query: str, start: datetime, end: datetime, period: int
    ) -> Iterable[Mapping[str, Any]]:
        """Evaluate at every period end in (start, end], in chunks of at most MAX_POINTS."""
        first = start + timedelta(seconds=period)
        span = timedelta(seconds=period * (MAX_POINTS - 1))
        while first <= end:
            last = min(end, first + span)
            params = {
                "query": query,
                "start": str(int(first.replace(tzinfo=UTC).timestamp())),
                "end": str(int(last.replace(tzinfo=UTC).timestamp())),
                "step": f"{period}s",
            }
            yield from self._get(http, params)
            first = last + timedelta(seconds=period)

    def _get(self, http: httpx.Client, params: Mapping[str, str]) -> Sequence[Mapping[str, Any]]:
        attempt = 0
        while True:
            self.calls += 1
            try:
                response = http.get("/api/v1/query_range", params=params)
            except httpx.HTTPError as exc:
                raise CollectError(f"cannot reach Prometheus at {self.url}: {exc}") from None
            if response.status_code in _RETRY_STATUS and attempt < self.retries:
                self.backoff(attempt)
                attempt += 1
                continue
            return self._result(response)

    def _result(self, response: httpx.Response) -> Sequence[Mapping[str, Any]]:
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        if response.status_code != 200 or doc.get("status") != "success":
            detail = doc.get("error") or response.text[:200]
            raise CollectError(
                f"Prometheus at {self.url} answered {response.status_code} to query_range: "
                f"{doc.get('errorType', 'error')}: {detail}"
            )
        data = doc.get("data") or {}
        if data.get("resultType") != "matrix":
            raise CollectError(
                f"Prometheus at {self.url}: expected a matrix, got {data.get('resultType')!r}"
            )
        return list(data.get("result") or [])
