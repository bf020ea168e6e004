"""EventBridge's Schedule events, played locally: one thread per scheduled function invokes it on its rate.

The event is the "Scheduled Event" EventBridge sends (tests/events/eventbridge_schedule_sweep.json has one). The
first invocation comes one interval after start, as with a new rule. ``interval_seconds`` may shorten the
template's rate for local runs (``--schedule-interval``).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from infra.local.poller import Handler, LambdaContext, import_handler
from infra.local.template import FunctionSpec, ScheduleEventSource

log = logging.getLogger("data_extract.local.schedule")


def scheduled_event(rule_arn: str, region: str, account_id: str, when: datetime | None = None) -> dict[str, Any]:
    when = when or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduleRunner(threading.Thread):
    """One Schedule event: invoke the function every interval until ``stop`` is set."""

    def __init__(
        self,
        function: FunctionSpec,
        event: ScheduleEventSource,
        *,
        function_name: str,
        stop: threading.Event,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        interval_seconds: float | None = None,
        handler: Handler | None = None,
    ) -> None:
        super().__init__(name=f"schedule-{function.logical_id}-{event.name}", daemon=False)
        self.function = function
        self.event = event
        self.function_name = function_name
        self.stop = stop
        self.region = region
        self.account_id = account_id
        self.interval_seconds = interval_seconds or event.rate_seconds
        self._handler = handler
        self.invocations = 0
        self.busy = False

    @property
    def handler(self) -> Handler:
        if self._handler is None:
            self._handler = import_handler(self.function.handler)
        return self._handler

    @property
    def rule_arn(self) -> str:
        return f"arn:aws:events:{self.region}:{self.account_id}:rule/{self.function_name}-{self.event.name}"

    def invoke_once(self) -> Any:
        context = LambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.function.memory_mb,
            timeout_seconds=self.function.timeout_seconds,
            region=self.region,
            account_id=self.account_id,
        )
        self.invocations += 1
        self.busy = True
        try:
            return self.handler(scheduled_event(self.rule_arn, self.region, self.account_id), context)
        except Exception:
            log.error("%s: scheduled invocation raised:\n%s", self.function_name, traceback.format_exc())
            return None
        finally:
            self.busy = False

    def run(self) -> None:
        next_at = time.monotonic() + self.interval_seconds
        while not self.stop.wait(max(0.0, next_at - time.monotonic())):
            self.invoke_once()
            next_at += self.interval_seconds
