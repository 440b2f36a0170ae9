"""A small Kubernetes API-server double on 127.0.0.1 for the official `kubernetes` client.

It serves a few resource types the way the real API server does, so tests drive the real client
(built from a kubeconfig this module writes) with no monkeypatching:

* GET of one object, GET of a list (in one namespace or across all, with a simple
  `labelSelector`: `k=v`, `k==v`, `k!=v`, `k`, `!k`), PATCH with `application/merge-patch+json`
  (RFC 7386) or `application/strategic-merge-patch+json` (the same, except that lists with a
  patch merge key — `containers`, `initContainers`, `env`, `volumes`, … — merge item by item on
  that key, and an item `{"$patch": "delete", name: …}` removes one, as the real server does),
  PUT to replace, POST to create, DELETE;
* `?dryRun=All` on PATCH, PUT, POST and DELETE validates and answers with the would-be object
  while changing nothing (no new resourceVersion); another `dryRun` value is a 400. Workloads are
  validated like the real server does for the fields tests touch (`spec.replicas` ≥ 0, container
  names, resource quantities): an invalid object is a 422 `Invalid`, dry run or not;
* `metadata.resourceVersion` moves on every change; a patch carrying a stale one is refused with
  409 Conflict (optimistic concurrency, as kubectl and controllers rely on);
* errors are `Status` objects (404 NotFound, 409 Conflict, 415, 401) like the real server's;
* every request is recorded (`requests`), an optional bearer token is enforced, and `fail()`
  makes the next matching request(s) answer with an error status;
* list GETs honour `limit` and `continue` (chunked lists, `metadata.continue` and
  `remainingItemCount` as the real server sets them); without `limit` the whole list comes back;
* the resource metrics API, `metrics.k8s.io/v1beta1` `pods` (PodMetrics, as metrics-server
  serves them; `add_pod_metrics`), answers 404 like a cluster without metrics-server when
  `metrics_api=False`.

Usage::

    with K8sDouble() as api:
        api.add(deployment("checkout-api", "checkout", labels={"app": "checkout-api"}))
        api.write_kubeconfig(tmp_path / "kubeconfig", cluster="prod-eu")
        ...  # kubernetes.config.new_client_from_config(str(path), context="prod-eu")
        api.get("deployments", "checkout-api", "checkout")["metadata"]["labels"]
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = [
    "RESOURCES",
    "K8sDouble",
    "Recorded",
    "container",
    "daemonset",
    "deployment",
    "merge_patch",
    "namespace",
    "pod",
    "pod_metrics",
    "statefulset",
    "strategic_merge_patch",
]

RESOURCES: dict[str, tuple[str, str, bool]] = {
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "pods": ("v1", "Pod", True),
    "services": ("v1", "Service", True),
    "deployments": ("apps/v1", "Deployment", True),
    "statefulsets": ("apps/v1", "StatefulSet", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "replicasets": ("apps/v1", "ReplicaSet", True),
}
"""plural → (apiVersion, kind, namespaced)."""

_PLURAL_OF = {kind: plural for plural, (_v, kind, _n) in RESOURCES.items()}
_MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
_STRATEGIC = _MERGE_TYPES[1]
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}
"""List field → its patch merge key, as in the Kubernetes API's `patchMergeKey` markers."""
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
_METRICS_PREFIX = "/apis/metrics.k8s.io/"
_CREATED = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Recorded:
    """One request as the double received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any


@dataclass
class _Failure:
    method: str
    path: str
    status: int
    times: int


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any, key: str | None = None) -> Any:
    """Strategic merge patch, for the fields tests use: objects merge recursively and null
    removes (as RFC 7386); a list whose field has a patch merge key (`_MERGE_KEYS`) merges item
    by item on it (an unmatched item is appended, `{"$patch": "delete", ...}` removes one); any
    other list replaces."""
    merge_key = _MERGE_KEYS.get(key or "")
    if merge_key and isinstance(patch, list) and isinstance(target, list):
        return _merge_list(target, patch, merge_key)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for field_name, value in patch.items():
        if value is None:
            out.pop(field_name, None)
        else:
            out[field_name] = strategic_merge_patch(out.get(field_name), value, field_name)
    return out


def _merge_list(target: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    out = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            out.append(copy.deepcopy(item))
            continue
        at = next(
            (
                i
                for i, o in enumerate(out)
                if isinstance(o, dict) and o.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
        elif at is None:
            out.append(copy.deepcopy(item))
        else:
            out[at] = strategic_merge_patch(out[at], item)
    return out


def _invalid_workload(kind: str, obj: Mapping[str, Any]) -> str | None:
    """Why a Deployment / StatefulSet would be refused (the few rules tests rely on), or None."""
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        return f"spec.replicas: Invalid value: {replicas!r}: must be greater than or equal to 0"
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    names = [c.get("name") for c in containers if isinstance(c, dict)]
    if len(names) != len(containers) or not all(names) or len(set(names)) != len(names):
        return "spec.template.spec.containers: Invalid value: names must be set and unique"
    for i, c in enumerate(containers):
        for part in ("requests", "limits"):
            for res, value in ((c.get("resources") or {}).get(part) or {}).items():
                if not isinstance(value, str | int) or not _QUANTITY.match(str(value)):
                    return (
                        f"spec.template.spec.containers[{i}].resources.{part}[{res}]: "
                        f"Invalid value: {value!r}: must be a quantity"
                    )
    return None


def _selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class _Route:
    plural: str
    namespace: str | None
    name: str | None


def _route(path: str) -> _Route | None:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        rest = parts[3:]
    else:
        return None
    if len(rest) >= 3 and rest[0] == "namespaces":
        return _Route(rest[2], rest[1], rest[3] if len(rest) > 3 else None)
    if rest:
        return _Route(rest[0], None, rest[1] if len(rest) > 1 else None)
    return None


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


@dataclass
class K8sDouble:
    """The API-server double; use as a context manager or call `start()` / `stop()`."""

    token: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    _objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _version: int = 100
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    metrics_api: bool = True
    """False: metrics.k8s.io answers 404, as on a cluster without metrics-server."""
    _pod_metrics: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> K8sDouble:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> K8sDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the double is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_kubeconfig(
        self, path: Path, *, cluster: str = "test", context: str | None = None
    ) -> Path:
        """Write a kubeconfig whose cluster entry `cluster` and context (default: the cluster's
        name) point at this double; another call adds (or replaces same-named) entries."""
        doc: dict[str, Any] = (yaml.safe_load(path.read_text()) if path.exists() else None) or {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [],
            "contexts": [],
            "users": [],
        }
        ctx_name = context or cluster
        entries = {
            "clusters": {"name": cluster, "cluster": {"server": self.url}},
            "users": {"name": f"{cluster}-user", "user": {"token": self.token or "unused"}},
            "contexts": {
                "name": ctx_name,
                "context": {"cluster": cluster, "user": f"{cluster}-user"},
            },
        }
        for section, entry in entries.items():
            kept = [e for e in doc.get(section) or [] if e.get("name") != entry["name"]]
            doc[section] = [*kept, entry]
        doc.setdefault("current-context", ctx_name)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    # -- state ----------------------------------------------------------------------------------

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object (its kind picks the resource type); returns the stored copy."""
        with self._lock:
            stored = copy.deepcopy(dict(obj))
            plural = _PLURAL_OF[stored["kind"]]
            meta = stored.setdefault("metadata", {})
            namespaced = RESOURCES[plural][2]
            if namespaced:
                meta.setdefault("namespace", "default")
            meta.setdefault("uid", f"uid-{plural}-{meta.get('namespace', '')}-{meta['name']}")
            meta.setdefault("creationTimestamp", _CREATED)
            meta["resourceVersion"] = self._next_version()
            key = (plural, meta.get("namespace", "") if namespaced else "", meta["name"])
            self._objects[key] = stored
            return copy.deepcopy(stored)

    def add_pod_metrics(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store a PodMetrics object (see `pod_metrics`) for the metrics API to serve."""
        with self._lock:
            stored = copy.deepcopy(dict(obj))
            meta = stored.setdefault("metadata", {})
            meta.setdefault("namespace", "default")
            self._pod_metrics[(meta["namespace"], meta["name"])] = stored
            return copy.deepcopy(stored)

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((plural, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, plural: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            items = [copy.deepcopy(o) for k, o in sorted(self._objects.items()) if k[0] == plural]
        return iter(items)

    def patch(self, plural: str, name: str, namespace: str | None, body: Any) -> dict[str, Any]:
        """Merge-patch an object directly (as another actor would); moves its resourceVersion."""
        with self._lock:
            key = (plural, namespace or "", name)
            patched = merge_patch(self._objects[key], body)
            patched["metadata"]["resourceVersion"] = self._next_version()
            self._objects[key] = patched
            return copy.deepcopy(patched)

    def remove(self, plural: str, name: str, namespace: str | None = None) -> bool:
        """Delete an object directly (as another actor would); False when it was not there."""
        with self._lock:
            return self._objects.pop((plural, namespace or "", name), None) is not None

    def fail(self, method: str, path: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` `method` requests whose path ends with `path` with `status`."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), path, status, times))

    def calls(self, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method.upper()]

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    # -- request handling -----------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, content_type: str | None, headers: Mapping[str, str],
        raw_body: bytes,
    ) -> tuple[int, dict[str, Any]]:  # fmt: skip
        split = urlsplit(raw_path)
        body = json.loads(raw_body) if raw_body else None
        query = parse_qs(split.query)
        with self._lock:
            self.requests.append(Recorded(method, split.path, query, content_type, body))
            if self.token and headers.get("authorization") != f"Bearer {self.token}":
                return 401, _status(401, "Unauthorized", "Unauthorized")
            injected = self._injected(method, split.path)
            if injected is not None:
                return injected, _status(injected, HTTPStatus(injected).phrase, "injected failure")
            route = _route(split.path)
            if split.path.startswith(_METRICS_PREFIX) and route is not None:
                return self._metrics(route, query, method)
            if route is None or route.plural not in RESOURCES:
                return 404, _status(404, "NotFound", f"the server could not find {split.path}")
            if method == "GET":
                return self._get(route, query)
            dry = query.get("dryRun")
            if dry is not None and dry != ["All"]:
                message = f"Invalid dry run value: {dry!r}; supported: All"
                return 400, _status(400, "BadRequest", message)
            dry_run = dry is not None
            if method == "PATCH":
                return self._patch(route, content_type, body, dry_run)
            if method == "PUT":
                return self._put(route, body, dry_run)
            if method == "POST":
                return self._create(route, body, dry_run)
            if method == "DELETE":
                return self._delete(route, dry_run)
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported")

    def _injected(self, method: str, path: str) -> int | None:
        for f in self._failures:
            if f.times > 0 and f.method == method and path.endswith(f.path):
                f.times -= 1
                return f.status
        return None

    def _key(self, route: _Route) -> tuple[str, str, str]:
        namespaced = RESOURCES[route.plural][2]
        return (route.plural, (route.namespace or "") if namespaced else "", route.name or "")

    def _not_found(self, route: _Route) -> tuple[int, dict[str, Any]]:
        version, _kind, _ns = RESOURCES[route.plural]
        group = version.split("/")[0] if "/" in version else ""
        what = f"{route.plural}.{group}" if group else route.plural
        details = {"name": route.name, "kind": route.plural}
        if group:
            details["group"] = group
        return 404, _status(404, "NotFound", f'{what} "{route.name}" not found', details)

    def _get(self, route: _Route, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        version, kind, _namespaced = RESOURCES[route.plural]
        if route.name is not None:
            obj = self._objects.get(self._key(route))
            if obj is None:
                return self._not_found(route)
            return 200, {"apiVersion": version, "kind": kind, **copy.deepcopy(obj)}
        selector = query.get("labelSelector", [""])[0]
        items = [
            {"apiVersion": version, "kind": kind, **copy.deepcopy(o)}
            for (plural, ns, _name), o in sorted(self._objects.items())
            if plural == route.plural
            and (route.namespace is None or ns == route.namespace)
            and _selector_matches(selector, o["metadata"].get("labels") or {})
        ]
        return self._list(version, f"{kind}List", items, query)

    def _list(
        self, version: str, kind: str, items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        meta: dict[str, Any] = {"resourceVersion": str(self._version)}
        limit = int(query.get("limit", ["0"])[0] or 0)
        token = query.get("continue", [""])[0]
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
            except (ValueError, IndexError, UnicodeDecodeError):
                return 400, _status(400, "BadRequest", f"invalid continue token {token!r}")
        if limit > 0:
            rest = len(items) - start - limit
            items = items[start : start + limit]
            if rest > 0:
                meta["continue"] = base64.urlsafe_b64encode(
                    f"offset:{start + limit}".encode()
                ).decode()
                meta["remainingItemCount"] = rest
        elif start:
            items = items[start:]
        return 200, {"apiVersion": version, "kind": kind, "metadata": meta, "items": items}

    def _metrics(
        self, route: _Route, query: dict[str, list[str]], method: str
    ) -> tuple[int, dict[str, Any]]:
        if not self.metrics_api:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if method != "GET" or route.plural != "pods":
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        version = "metrics.k8s.io/v1beta1"
        if route.name is not None:
            obj = self._pod_metrics.get((route.namespace or "", route.name))
            if obj is None:
                message = f'podmetrics.metrics.k8s.io "{route.name}" not found'
                return 404, _status(404, "NotFound", message)
            return 200, {"apiVersion": version, "kind": "PodMetrics", **copy.deepcopy(obj)}
        items = [
            {"apiVersion": version, "kind": "PodMetrics", **copy.deepcopy(o)}
            for (ns, _name), o in sorted(self._pod_metrics.items())
            if route.namespace is None or ns == route.namespace
        ]
        return self._list(version, "PodMetricsList", items, query)

    def _patch(
        self, route: _Route, content_type: str | None, body: Any, dry_run: bool = False
    ) -> tuple[int, dict[str, Any]]:
        media = (content_type or "").split(";")[0].strip()
        if media not in _MERGE_TYPES:
            message = f"the double supports {' and '.join(_MERGE_TYPES)}, not {media!r}"
            return 415, _status(415, "UnsupportedMediaType", message)
        current = self._objects.get(self._key(route))
        if current is None:
            return self._not_found(route)
        merge = strategic_merge_patch if media == _STRATEGIC else merge_patch
        return self._store(route, current, merge(current, body), body, dry_run)

    def _put(self, route: _Route, body: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        current = self._objects.get(self._key(route))
        if current is None:
            return self._not_found(route)
        if not isinstance(body, dict) or (body.get("metadata") or {}).get("name") != route.name:
            return 400, _status(400, "BadRequest", "the body's metadata.name must match the URL")
        replaced = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("apiVersion", "kind")}
        return self._store(route, current, replaced, body, dry_run)

    def _store(
        self, route: _Route, current: dict[str, Any], new: dict[str, Any], body: Any, dry_run: bool
    ) -> tuple[int, dict[str, Any]]:
        """Check the resourceVersion the body carries and the new object; keep it unless a dry
        run; answer with the (would-be) object."""
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
        version, kind, _namespaced = RESOURCES[route.plural]
        group = version.split("/")[0] if "/" in version else ""
        what = f"{route.plural}.{group}" if group else route.plural
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            message = (
                f'Operation cannot be fulfilled on {what} "{route.name}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
            return 409, _status(409, "Conflict", message)
        new.setdefault("metadata", {})
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
            if fixed in current["metadata"]:
                new["metadata"][fixed] = current["metadata"][fixed]
        if route.plural in ("deployments", "statefulsets"):
            problem = _invalid_workload(kind, new)
            if problem:
                message = f'{kind}.{group} "{route.name}" is invalid: {problem}'
                return 422, _status(422, "Invalid", message, {"name": route.name, "kind": kind})
        if not dry_run:
            new["metadata"]["resourceVersion"] = self._next_version()
            self._objects[self._key(route)] = new
        return 200, {"apiVersion": version, "kind": kind, **copy.deepcopy(new)}

    def _create(
        self, route: _Route, body: Any, dry_run: bool = False
    ) -> tuple[int, dict[str, Any]]:
        name = (body or {}).get("metadata", {}).get("name")
        if not name:
            return 422, _status(422, "Invalid", "metadata.name is required")
        item = _Route(route.plural, route.namespace, name)
        if self._key(item) in self._objects:
            return 409, _status(409, "AlreadyExists", f'{route.plural} "{name}" already exists')
        obj = copy.deepcopy(dict(body))
        if route.namespace:
            obj.setdefault("metadata", {})["namespace"] = route.namespace
        if route.plural in ("deployments", "statefulsets"):
            problem = _invalid_workload(RESOURCES[route.plural][1], obj)
            if problem:
                return 422, _status(422, "Invalid", f'"{name}" is invalid: {problem}')
        if dry_run:
            version, kind, _namespaced = RESOURCES[route.plural]
            return 201, {"apiVersion": version, "kind": kind, **obj}
        self.add(obj)
        status, created = self._get(item, {})
        return (201 if status == 200 else status), created

    def _delete(self, route: _Route, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        key = self._key(route)
        obj = self._objects.get(key) if dry_run else self._objects.pop(key, None)
        if obj is None:
            return self._not_found(route)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}


def _handler(double: K8sDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = double.handle(
                self.command, self.path, self.headers.get("Content-Type"), headers, raw
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


# -- object builders ----------------------------------------------------------------------------


def _workload(
    kind: str,
    name: str,
    ns: str,
    labels: Mapping[str, str] | None,
    extra: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]] | None = None,
    ready: int | None = None,
) -> dict[str, Any]:
    selector = {"app": name}
    spec = {
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": dict(selector)},
            "spec": {
                "containers": [dict(c) for c in containers]
                if containers
                else [{"name": name, "image": f"registry.local/{name}:1"}]
            },
        },
        **extra,
    }
    meta = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    if ready is not None:
        replicas = extra.get("replicas", 1)
        obj["status"] = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
    return obj


def container(
    name: str,
    requests: Mapping[str, str] | None = None,
    limits: Mapping[str, str] | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """A container spec with resource requests / limits (`{"cpu": "250m", "memory": "1Gi"}`)."""
    out: dict[str, Any] = {"name": name, "image": image or f"registry.local/{name}:1"}
    resources = {k: dict(v) for k, v in (("requests", requests), ("limits", limits)) if v}
    if resources:
        out["resources"] = resources
    return out


def deployment(
    name: str,
    ns: str = "default",
    labels: Mapping[str, str] | None = None,
    replicas: int = 1,
    containers: Sequence[Mapping[str, Any]] | None = None,
    ready: int | None = None,
) -> dict[str, Any]:
    """A Deployment; `containers` (see `container`) default to one named after it; `ready` sets
    `status` (ready and available replicas)."""
    return _workload("Deployment", name, ns, labels, {"replicas": replicas}, containers, ready)


def statefulset(
    name: str,
    ns: str = "default",
    labels: Mapping[str, str] | None = None,
    replicas: int = 1,
    containers: Sequence[Mapping[str, Any]] | None = None,
    ready: int | None = None,
) -> dict[str, Any]:
    extra = {"replicas": replicas, "serviceName": name}
    return _workload("StatefulSet", name, ns, labels, extra, containers, ready)


def daemonset(
    name: str, ns: str = "default", labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return _workload("DaemonSet", name, ns, labels, {})


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "status": {"phase": "Active"},
    }


def pod(
    name: str, ns: str = "default", labels: Mapping[str, str] | None = None, node: str = "node-1"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
        "spec": {"nodeName": node, "containers": [{"name": name, "image": "registry.local/x:1"}]},
        "status": {"phase": "Running"},
    }


def pod_metrics(
    name: str,
    ns: str = "default",
    usage: Mapping[str, tuple[str, str]] | None = None,
    timestamp: str = "2026-01-01T00:00:00Z",
    window: str = "30s",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A `metrics.k8s.io/v1beta1` PodMetrics: `usage` maps container → (cpu, memory) quantities,
    e.g. `{"api": ("250m", "300Mi")}`."""
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": dict(labels or {}),
            "creationTimestamp": timestamp,
        },
        "timestamp": timestamp,
        "window": window,
        "containers": [
            {"name": c, "usage": {"cpu": cpu, "memory": memory}}
            for c, (cpu, memory) in (usage or {}).items()
        ],
    }
