"""The Lambda context handlers receive in tests: the local stack's, with test defaults."""

from __future__ import annotations

from infra.local.poller import LambdaContext as _StackLambdaContext


def LambdaContext(
    function_name: str = "data-extract-function", memory_limit_in_mb: int = 1024, timeout_seconds: float = 60.0
) -> _StackLambdaContext:
    return _StackLambdaContext(
        function_name=function_name, memory_limit_in_mb=memory_limit_in_mb, timeout_seconds=timeout_seconds
    )
