"""The extraction guard: a forked child bounded in time and memory, outcomes mapped to error types."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_extract.pipeline import guard
from data_extract.pipeline.guard import remaining_time_s, run_isolated, run_isolated_with_stats
from data_extract.pipeline.types import ErrorType, ExtractionError


def _process_gone(pid: int) -> bool:
    """True when the process no longer exists (or is a zombie nobody waits for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def _big_text(size: int) -> str:
    return "x" * size


def _raise_extraction_error() -> None:
    raise ExtractionError(ErrorType.ENCRYPTED, "The PDF needs a password.", pages=[1, 2])


def _raise_unexpected() -> None:
    raise KeyError("internal detail that must not leak")


def _segfault() -> None:
    ctypes.string_at(0)


def _exit_without_result() -> None:
    os._exit(3)


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _sleep_and_record(pid_file: str, seconds: float) -> None:
    helper = subprocess.Popen(["sleep", "60"])
    Path(pid_file).write_text(f"{os.getpid()} {helper.pid}")
    time.sleep(seconds)


def _record_pid(pid_file: str) -> str:
    Path(pid_file).write_text(str(os.getpid()))
    return "done"


def _remaining() -> float | None:
    return remaining_time_s()


def test_given_a_function_when_run_isolated_then_its_result_comes_back():
    assert run_isolated(_add, 2, 3, scale=10, timeout_s=30, memory_mb=256) == 50


def test_given_a_stderr_without_a_descriptor_and_faulthandler_on_when_run_isolated_then_the_child_still_works(
    monkeypatch,
):
    import faulthandler
    import io
    import sys

    was_enabled = faulthandler.is_enabled()
    faulthandler.enable()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a captured stream, as test runners and embedders use
    try:
        assert run_isolated(_add, 2, 3, scale=10, timeout_s=30, memory_mb=256) == 50
    finally:
        if not was_enabled:
            faulthandler.disable()


def test_given_a_result_of_tens_of_megabytes_when_run_isolated_then_it_arrives_whole():
    text = run_isolated(_big_text, 40_000_000, timeout_s=60, memory_mb=1024)

    assert len(text) == 40_000_000 and text[-1] == "x"


def test_given_a_run_when_asking_for_stats_then_wall_time_and_peak_memory_are_reported():
    value, stats = run_isolated_with_stats(_allocate, 64, timeout_s=30, memory_mb=512)

    assert value == 64 * 1024 * 1024
    assert stats["wall_ms"] > 0
    assert stats["max_rss_mb"] >= 64
    assert set(stats) == {"wall_ms", "max_rss_mb", "cpu_ms"}


def test_given_an_extraction_error_in_the_child_when_run_isolated_then_it_is_raised_as_is():
    with pytest.raises(ExtractionError) as caught:
        run_isolated(_raise_extraction_error, timeout_s=30, memory_mb=256)

    assert caught.value.error_type is ErrorType.ENCRYPTED
    assert caught.value.message == "The PDF needs a password."
    assert caught.value.details == {"pages": [1, 2]}


def test_given_an_unexpected_exception_in_the_child_when_run_isolated_then_corrupt_without_internals():
    with pytest.raises(ExtractionError) as caught:
        run_isolated(_raise_unexpected, timeout_s=30, memory_mb=256)

    assert caught.value.error_type is ErrorType.CORRUPT
    assert "internal detail" not in caught.value.message
    assert "Traceback" not in caught.value.message
    assert caught.value.details["exception_type"] == "KeyError"


def test_given_a_crash_type_when_the_child_raises_unexpectedly_then_that_type_is_used():
    with pytest.raises(ExtractionError) as caught:
        run_isolated_with_stats(
            _raise_unexpected, timeout_s=30, memory_mb=256, crash_error_type=ErrorType.INTERNAL_ERROR
        )

    assert caught.value.error_type is ErrorType.INTERNAL_ERROR


def test_given_a_segfault_in_the_child_when_run_isolated_then_corrupt_and_the_parent_lives_on():
    with pytest.raises(ExtractionError) as caught:
        run_isolated(_segfault, timeout_s=30, memory_mb=256)

    assert caught.value.error_type is ErrorType.CORRUPT
    assert "SIGSEGV" in caught.value.message
    assert run_isolated(_add, 1, 1, timeout_s=30, memory_mb=256) == 2


def test_given_a_child_that_exits_without_a_result_when_run_isolated_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        run_isolated(_exit_without_result, timeout_s=30, memory_mb=256)

    assert caught.value.error_type is ErrorType.CORRUPT
    assert caught.value.details["exit_code"] == 3


def test_given_an_allocation_over_the_budget_when_run_isolated_then_memory_limit():
    with pytest.raises(ExtractionError) as caught:
        run_isolated(_allocate, 2048, timeout_s=30, memory_mb=256)

    assert caught.value.error_type is ErrorType.MEMORY_LIMIT
    assert "256 MB" in caught.value.message


def test_given_a_slow_function_when_time_runs_out_then_timeout_and_its_process_group_is_killed(tmp_path):
    pid_file = tmp_path / "pids"
    started = time.monotonic()

    with pytest.raises(ExtractionError) as caught:
        run_isolated(_sleep_and_record, str(pid_file), 30, timeout_s=1.5, memory_mb=256)

    assert caught.value.error_type is ErrorType.TIMEOUT
    assert "1.5 seconds" in caught.value.message
    assert time.monotonic() - started < 15
    child_pid, helper_pid = (int(p) for p in pid_file.read_text().split())
    assert _process_gone(child_pid)
    deadline = time.monotonic() + 5
    while not _process_gone(helper_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _process_gone(helper_pid)


def test_given_a_finished_run_when_it_returns_then_the_child_has_been_reaped(tmp_path):
    pid_file = tmp_path / "pid"

    assert run_isolated(_record_pid, str(pid_file), timeout_s=30, memory_mb=256) == "done"

    child_pid = int(pid_file.read_text())
    with pytest.raises(ChildProcessError):
        os.waitpid(child_pid, os.WNOHANG)
    assert _process_gone(child_pid)


def test_given_the_guard_when_asking_for_remaining_time_then_only_the_child_has_a_deadline():
    assert remaining_time_s() is None

    remaining = run_isolated(_remaining, timeout_s=20, memory_mb=256)

    assert remaining is not None and 0 < remaining <= 20


def test_given_invalid_limits_when_run_isolated_then_value_error():
    with pytest.raises(ValueError):
        run_isolated(_add, 1, 2, timeout_s=0, memory_mb=256)
    with pytest.raises(ValueError):
        run_isolated(_add, 1, 2, timeout_s=5, memory_mb=0)


def test_given_the_module_when_imported_then_it_uses_no_multiprocessing():
    source = Path(guard.__file__).read_text()

    assert "import multiprocessing" not in source and "from multiprocessing" not in source


# Run in a process of its own: the scenario needs the thread's event loop in asyncio's policy, which is state of
# the whole test process.
_IDLE_LOOP_SCENARIO = """
import asyncio, gc, threading, warnings
from data_extract.pipeline.guard import run_isolated

asyncio.set_event_loop(asyncio.new_event_loop())  # held by the policy alone, as Mangum leaves it between calls
run_isolated(gc.collect, timeout_s=30, memory_mb=512)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    loop = asyncio.get_event_loop()
woken = loop.create_future()
fallback = []
threading.Timer(0.2, loop.call_soon_threadsafe, args=(woken.set_result, "woken")).start()
loop.call_later(10, fallback.append, "timer")  # a lost wake-up leaves the loop asleep until this timer
print(loop.run_until_complete(woken), fallback)
loop.close()
"""


def test_given_an_idle_event_loop_in_the_parent_when_the_child_collects_garbage_then_the_loop_still_wakes():
    # A child that collected the parent's idle loop would close it and unregister its wake-up socket from the
    # epoll instance both processes share: the parent's loop would then sleep through call_soon_threadsafe.
    functions = Path(__file__).resolve().parents[3] / "functions"
    out = subprocess.run(
        [sys.executable, "-c", _IDLE_LOOP_SCENARIO],
        env={**os.environ, "PYTHONPATH": str(functions)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "woken []", out.stderr
