"""The SDK's ``http_request_duration`` METRIC line for every call the core makes to Exact.

The tap does not use the SDK's REST streams (the core owns HTTP), so it reports the core's
request timings itself, in the SDK's own metric format and on its metrics logger: Meltano
and log tooling read them like any SDK tap's.
"""

from __future__ import annotations

import logging
from typing import Any

from singer_sdk import metrics

from exact_online_core.metrics import RequestObserver, RequestTiming

DIVISION_TAG = "division"
METHOD_TAG = "method"


def request_metrics(logger: logging.Logger) -> RequestObserver:
    """An observer for ``ExactClient.on_response`` that logs one METRIC line per attempt."""

    def log(timing: RequestTiming) -> None:
        tags: dict[str, Any] = {
            metrics.Tag.ENDPOINT: timing.endpoint,
            METHOD_TAG: timing.method,
            metrics.Tag.STATUS: (
                metrics.Status.SUCCEEDED if timing.succeeded else metrics.Status.FAILED
            ),
        }
        if timing.status is not None:
            tags[metrics.Tag.HTTP_STATUS_CODE] = timing.status
        if timing.division is not None:
            tags[DIVISION_TAG] = timing.division
        point = metrics.Point(
            "timer", metric=metrics.Metric.HTTP_REQUEST_DURATION, value=timing.seconds, tags=tags
        )
        metrics.log(logger, point)

    return log
