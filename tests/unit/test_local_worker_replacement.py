"""The local stack replaces a worker loop process that died, as Lambda replaces a failed execution environment,
and replaces none that was asked to stop. Real child processes stand in for the loops (``loop_command``), so no
moto server or queue is needed."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import pytest

from infra.local import stack as stack_module
from infra.local.stack import LocalStack

# A loop stops with status 0 on SIGTERM, as worker_loop.py does after its batch.
LOOP = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); "
    "[time.sleep(0.1) for _ in range(600)]; sys.exit(5)"
)


@pytest.fixture
def logged(caplog):
    """The stack's log records (its logger may not propagate once the handlers routed package logs to JSON)."""
    logger = logging.getLogger("data_extract.local.stack")
    caplog.set_level(logging.INFO, logger=logger.name)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.setattr(stack_module, "EARLY_EXIT_SECONDS", 3.0)
    local = LocalStack(api_port=1, moto_port=1, worker_loops=2, isolated_workers=True)
    local.loop_command = (sys.executable, "-c", LOOP)
    env = dict(os.environ)
    with local.loop_lock:
        local.loop_processes += [local._start_loop_process(env), local._start_loop_process(env)]
    watcher = threading.Thread(target=local._replace_dead_loop_processes, args=(env,), daemon=True)
    watcher.start()
    yield local
    local.shutdown()
    watcher.join(timeout=10)
    assert not watcher.is_alive()


def _handles_sigterm(pid: int) -> bool:
    """Whether the process has installed its SIGTERM handler yet (Linux: the caught-signals mask in /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _wait_until(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_loop_process_is_replaced_and_the_death_is_logged(stack, logged):
    killed, other = stack.loop_processes
    os.kill(killed.pid, signal.SIGKILL)
    _wait_until(lambda: stack.loop_processes[0] is not killed)

    replacement = stack.loop_processes[0]
    assert replacement.poll() is None and stack.loop_processes[1] is other
    # In a process group of its own, as the first ones: Ctrl-C in the terminal reaches only the stack.
    assert os.getpgid(replacement.pid) == replacement.pid != os.getpgid(0)
    messages = [r.getMessage() for r in logged.records]
    assert any(f"worker process {killed.pid} was killed by SIGKILL (exit status -9)" in m for m in messages)
    assert f"WorkerFunction: worker process {replacement.pid} started" in messages


def test_a_loop_process_that_dies_right_after_starting_is_replaced_only_after_a_delay(stack, logged):
    crashed = stack.loop_processes[0]
    os.kill(crashed.pid, signal.SIGSEGV)
    crashed.wait(timeout=10)
    died = time.monotonic()
    _wait_until(lambda: stack.loop_processes[0] is not crashed)

    assert time.monotonic() - died >= stack_module.EARLY_EXIT_SECONDS - 0.1
    assert any(
        f"worker process {crashed.pid} was killed by SIGSEGV" in r.getMessage()
        and "starting another in 3 s" in r.getMessage()
        for r in logged.records
    )


def test_a_loop_process_asked_to_stop_is_not_replaced(stack):
    stopped = stack.loop_processes[0]
    _wait_until(lambda: _handles_sigterm(stopped.pid))
    stopped.terminate()
    assert stopped.wait(timeout=10) == 0
    time.sleep(1.5)  # three of the watcher's rounds
    assert stack.loop_processes[0] is stopped


def test_a_loop_process_ended_by_sigterm_before_its_handler_is_installed_is_not_replaced(stack):
    # Still starting (no handler yet): the signal itself ends the process.
    env = dict(os.environ)
    with stack.loop_lock:
        replaced = stack.loop_processes[0]
        stack.loop_command = (sys.executable, "-c", "import time; time.sleep(60)")
        unhandled = stack.loop_processes[0] = stack._start_loop_process(env)
    replaced.kill()
    replaced.wait(timeout=10)
    unhandled.terminate()
    assert unhandled.wait(timeout=10) == -signal.SIGTERM
    time.sleep(1.5)
    assert stack.loop_processes[0] is unhandled


def test_shutdown_stops_every_loop_process_and_starts_none(stack):
    first = list(stack.loop_processes)
    for process in first:
        _wait_until(lambda pid=process.pid: _handles_sigterm(pid))
    stack.shutdown()
    time.sleep(1.5)
    assert stack.loop_processes == first
    assert [p.returncode for p in first] == [0, 0]
