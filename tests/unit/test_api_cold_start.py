"""The API function stays light: importing its handler loads no extraction or analysis library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pypdfium2", "lxml", "PIL", "python_calamine", "oxmsg", "nupunkt", "sklearn", "scipy", "numpy")


def test_importing_the_api_handler_loads_no_heavy_library():
    code = (
        "import json, sys; sys.path.insert(0, 'functions'); import data_extract.handlers.api; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


NUMERICAL = ("sklearn", "scipy", "numpy", "data_extract.pipeline.semantic.analyze")


def _loaded_after_import(module: str, watched: tuple[str, ...]) -> list[str]:
    code = (
        f"import json, sys; sys.path.insert(0, 'functions'); import {module}; "
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_worker_finalize_and_dead_letter_handlers_loads_no_semantic_stack():
    # Their layer does not carry numpy/scipy/scikit-learn: importing them there would fail at cold start.
    for module in (
        "data_extract.handlers.worker",
        "data_extract.handlers.finalize",
        "data_extract.handlers.dead_letter",
        "data_extract.handlers.api",
    ):
        assert _loaded_after_import(module, NUMERICAL) == [], module


def test_importing_the_semantic_handler_loads_the_stage_at_init():
    # The counterpart: the semantic function pays the import in its init phase, not on its first message.
    assert _loaded_after_import("data_extract.handlers.semantic", NUMERICAL) == list(NUMERICAL)


def _tracer_after_import(module: str, **environment: str) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, 'functions'); import {module} as handler; "
        "print(json.dumps({'tracer': type(handler.tracer).__name__, 'xray': 'aws_xray_sdk.core' in sys.modules}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("POWERTOOLS_TRACE_DISABLED", "LAMBDA_TASK_ROOT")}
    env.update(AWS_DEFAULT_REGION="us-east-1", **environment)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_outside_lambda_the_handlers_import_no_xray_sdk():
    # Tests, the local stack and benchmarks: nothing receives traces, so the SDK's import time is not paid.
    for module in ("data_extract.handlers.api", "data_extract.handlers.worker"):
        assert _tracer_after_import(module) == {"tracer": "UntracedTracer", "xray": False}, module


def test_in_lambda_with_tracing_on_the_handlers_trace_with_powertools():
    assert _tracer_after_import("data_extract.handlers.api", LAMBDA_TASK_ROOT="/var/task") == {
        "tracer": "Tracer",
        "xray": True,
    }
    assert _tracer_after_import(
        "data_extract.handlers.api", LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true"
    ) == {"tracer": "UntracedTracer", "xray": False}
