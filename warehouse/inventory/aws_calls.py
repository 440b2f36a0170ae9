"""Calling AWS the careful way: retries, throttling backoff, paginators, and errors that say what
to fix.

Two layers of retry. botocore's own (`standard` or `adaptive` mode, `max_attempts`) retries
throttling, transient 5xx and connection errors quickly; a call *still* throttled after that is
retried here with exponential backoff and full jitter (`base · 2^n`, capped), through an injected
`sleep` so tests never wait. Pagination resumes from the last page's token, so a throttled page
is asked again rather than the whole listing.

Errors become `CollectError`s naming the call: no credentials, credentials rejected, an endpoint
that cannot be reached, or access denied with the IAM permission the call needs
(`ec2:DescribeVolumes`, …).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.paginate import TokenEncoder

from warehouse.inventory.models import CollectError

__all__ = ["THROTTLING_CODES", "AwsCaller", "iam_action"]

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "EC2ThrottledException",
    }
)
_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
_BAD_CREDENTIALS = frozenset(
    {
        "AuthFailure",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "monitoring": "cloudwatch"}

_TOKENS: dict[str, tuple[str, str, str | None, int, int]] = {
    "describe_instances": ("NextToken", "NextToken", "MaxResults", 5, 1000),
    "describe_volumes": ("NextToken", "NextToken", "MaxResults", 5, 500),
    "describe_db_instances": ("Marker", "Marker", "MaxRecords", 20, 100),
    "describe_load_balancers": ("Marker", "NextMarker", "PageSize", 1, 400),
    "describe_target_groups": ("Marker", "NextMarker", "PageSize", 1, 400),
    "list_metrics": ("NextToken", "NextToken", None, 0, 0),
    "get_metric_data": ("NextToken", "NextToken", None, 0, 0),
}
"""operation → (input token, output token, page-size parameter, its minimum, its maximum)."""


def iam_action(service: str, operation: str) -> str:
    """The IAM action a call needs: `elbv2` DescribeTags → `elasticloadbalancing:DescribeTags`."""
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"


@dataclass
class AwsCaller:
    """Runs calls for one collection: counts them, retries throttling, translates errors."""

    sleep: Callable[[float], None] = time.sleep
    retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: Callable[[], float] = random.random
    page_size: int | None = None
    endpoint: str | None = None
    calls: int = 0
    retried: int = 0
    sleeps: list[float] = field(default_factory=list)

    def call(self, client: Any, operation: str, **params: Any) -> Any:
        """`client.<operation>(**params)` with throttling backoff and clear errors."""
        return self._retrying(client, operation, lambda: getattr(client, operation)(**params))

    def pages(self, client: Any, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, through botocore's paginator; a throttled page is
        asked again from the previous page's token."""
        in_token, out_token, size_key, low, high = _TOKENS[operation]
        config: dict[str, Any] = {}
        if size_key and self.page_size:
            config["PageSize"] = max(low, min(high, self.page_size))
        resume: str | None = None
        attempt = 0
        while True:
            if resume is not None:
                config["StartingToken"] = TokenEncoder().encode({in_token: resume})
            paginator = client.get_paginator(operation)
            iterator = iter(paginator.paginate(**params, PaginationConfig=config))
            done = True
            try:
                while True:
                    try:
                        page = next(iterator)
                    except StopIteration:
                        break
                    except ClientError as exc:
                        self.calls += 1
                        if not self._throttled(exc) or attempt >= self.retries:
                            raise
                        self._backoff(attempt)
                        attempt += 1
                        done = False
                        break
                    self.calls += 1
                    attempt = 0
                    yield page
                    token = page.get(out_token)
                    if token:
                        resume = token
            except (ClientError, BotoCoreError) as exc:
                raise self.error(exc, client, operation) from None
            if done:
                return

    def _retrying(self, client: Any, operation: str, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            self.calls += 1
            try:
                return fn()
            except ClientError as exc:
                if self._throttled(exc) and attempt < self.retries:
                    self._backoff(attempt)
                    attempt += 1
                    continue
                raise self.error(exc, client, operation) from None
            except BotoCoreError as exc:
                raise self.error(exc, client, operation) from None

    @staticmethod
    def _throttled(exc: ClientError) -> bool:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in THROTTLING_CODES or status == 429

    def _backoff(self, attempt: int) -> None:
        delay = min(self.max_delay, self.base_delay * 2**attempt) * self.jitter()
        self.retried += 1
        self.sleeps.append(delay)
        self.sleep(delay)

    def error(self, exc: Exception, client: Any, operation: str) -> CollectError:
        """A one-line, actionable message for a failed call."""
        meta = client.meta
        service = meta.service_model.service_name
        api = meta.method_to_api_mapping.get(operation, operation)
        where = f"{service}:{api} in {meta.region_name}"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return CollectError(
                "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or run with an instance / task role"
            )
        if isinstance(exc, NoRegionError):
            return CollectError("no AWS region: set collect.aws.regions or AWS_REGION")
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
            url = getattr(exc, "kwargs", {}).get("endpoint_url") or meta.endpoint_url
            return CollectError(f"cannot reach the AWS endpoint {url} ({where}): {exc}")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message", "")).strip()
            if code in _DENIED:
                return CollectError(
                    f"access denied: {where} needs the IAM permission {iam_action(service, api)} "
                    f"(AWS said {code}: {message})"
                )
            if code in _BAD_CREDENTIALS:
                return CollectError(f"AWS rejected the credentials ({where}): {code}: {message}")
            if self._throttled(exc):
                return CollectError(
                    f"{where} still throttled after {self.retries} backoff retries ({code}); "
                    "try again later or collect fewer regions at once"
                )
            return CollectError(f"{where} failed: {code}: {message}")
        return CollectError(f"{where} failed: {exc}")
