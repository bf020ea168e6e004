"""Run a parser in a forked child process, bounded in wall time and memory.

Parsers run native code (pdfium, libxml2, Pillow codecs) on untrusted bytes. A
crafted or broken file can make them loop, allocate without bound or crash. The
child process takes that risk instead of the worker:

- ``os.fork`` plus a pipe, with the result (or the error) pickled back. Nothing
  from ``multiprocessing`` is used: its queues and pools need ``/dev/shm``, which
  AWS Lambda does not have.
- ``RLIMIT_AS`` caps the address space the child may add, so runaway allocation
  ends in ``MemoryError`` (or a failed ``malloc``) inside the child.
- The parent waits with a deadline and kills the child's whole process group
  (the child and anything it started, e.g. tesseract) when time runs out.
- The parent always reaps the child (``wait4``), which also yields its peak RSS.

Outcomes map onto the documented error types: an ``ExtractionError`` raised in the
child is re-raised as is; time out -> ``timeout``; memory exhaustion ->
``memory_limit``; any other crash (a signal, an unexpected exception) ->
``corrupt`` by default, with a message free of stack traces.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import gc
import logging
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from data_extract.pipeline.types import ErrorType, ExtractionError

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024
_HEADER = struct.Struct("!Q")  # payload length prefix
_READ_CHUNK = 1024 * 1024
_STDERR_TAIL_BYTES = 16 * 1024
_POLL_INTERVAL_S = 0.05
_KILL_REAP_TIMEOUT_S = 5.0

# Words native runtimes print when an allocation fails (C++ std::bad_alloc, glibc,
# Python's fatal errors). They tell a memory death from any other crash.
_OUT_OF_MEMORY_MARKERS = (b"bad_alloc", b"out of memory", b"cannot allocate memory", b"memoryerror")


class _ChildClock:
    """Set in the child only: the monotonic time at which the parent will kill it."""

    deadline: float | None = None


_CHILD_CLOCK = _ChildClock()


def remaining_time_s() -> float | None:
    """Seconds left before the guard stops this process; None when not guarded.

    Long extractions (OCR of many pages) use it to stop early and return what they
    have, instead of being killed with nothing to show.
    """
    deadline = _CHILD_CLOCK.deadline
    if deadline is None:
        return None
    return deadline - time.monotonic()


def run_isolated[T](func: Callable[..., T], /, *args: Any, timeout_s: float, memory_mb: int, **kwargs: Any) -> T:
    """Return ``func(*args, **kwargs)`` computed in a child process within the limits."""
    value, _stats = run_isolated_with_stats(func, *args, timeout_s=timeout_s, memory_mb=memory_mb, **kwargs)
    return value


def run_isolated_with_stats[T](
    func: Callable[..., T],
    /,
    *args: Any,
    timeout_s: float,
    memory_mb: int,
    crash_error_type: ErrorType = ErrorType.CORRUPT,
    **kwargs: Any,
) -> tuple[T, dict[str, float]]:
    """Like ``run_isolated``, also returning ``{wall_ms, max_rss_mb, cpu_ms}`` of the child.

    ``memory_mb`` is the address space the child may map on top of what it
    inherits from this process at fork time. ``max_rss_mb`` is the child's peak
    resident set, which includes the pages it shares with this process.
    ``crash_error_type`` is what a crash (signal, unexpected exception) becomes.
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if memory_mb <= 0:
        raise ValueError("memory_mb must be positive")

    child = _fork(func, args, kwargs, timeout_s, memory_mb)
    outcome = _wait(child, timeout_s)
    wall_ms = (time.monotonic() - child.started) * 1000.0
    stats = {
        "wall_ms": round(wall_ms, 3),
        "max_rss_mb": round(outcome.max_rss_kb / 1024.0, 3),
        "cpu_ms": round(outcome.cpu_s * 1000.0, 3),
    }
    value: T = _interpret(outcome, timeout_s=timeout_s, memory_mb=memory_mb, crash_error_type=crash_error_type)
    return value, stats


@dataclass(frozen=True)
class _Child:
    pid: int
    result_fd: int  # read end of the result pipe
    stderr_fd: int  # read end of the child's stderr
    resident_at_fork_kb: int
    started: float  # monotonic


def _fork(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout_s: float, memory_mb: int
) -> _Child:
    """Start the child computing ``func``; in the parent, the child's pid and the read ends of its pipes."""
    # Buffered output would otherwise be written twice, once by each process.
    sys.stdout.flush()
    sys.stderr.flush()

    result_read, result_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    resident_at_fork_kb = _resident_kb()
    started = time.monotonic()
    # The child must never finalize the parent's objects: its garbage collector would run their __del__, and
    # some act on state the two processes share. An idle asyncio event loop collected in the child closes
    # itself and unregisters its wake-up socket from the epoll instance the parent still waits on, so the
    # parent's loop then sleeps through every call_soon_threadsafe. Frozen objects are never collected (and
    # their pages are not copied by a collection pass either).
    gc.freeze()
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:
            gc.unfreeze()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit; coverage cannot follow
        os.close(result_read)
        os.close(stderr_read)
        _child_main(func, args, kwargs, result_write, stderr_write, timeout_s, memory_mb)

    os.close(result_write)
    os.close(stderr_write)
    with contextlib.suppress(OSError):
        # Also done in the child; doing it here too closes the race before the child runs.
        os.setpgid(pid, pid)
    return _Child(pid, result_read, stderr_read, resident_at_fork_kb, started)


def _wait(child: _Child, timeout_s: float) -> _Outcome:
    """The child's result, stderr tail and exit, read until it ends or the deadline kills it; never leaves it
    behind."""
    outcome = _Outcome()
    outcome.resident_at_fork_kb = child.resident_at_fork_kb
    try:
        _collect(child.pid, child.result_fd, child.stderr_fd, child.started + timeout_s, outcome)
    finally:
        os.close(child.result_fd)
        os.close(child.stderr_fd)
        if outcome.status is None:
            # Interrupted while waiting (KeyboardInterrupt, a signal handler raising):
            # never leave the child behind.
            _kill_group(child.pid)
            _reap(child.pid, outcome)
    return outcome


class _Outcome:
    __slots__ = ("cpu_s", "max_rss_kb", "payload", "resident_at_fork_kb", "status", "stderr_tail", "timed_out")

    def __init__(self) -> None:
        self.resident_at_fork_kb = 0
        self.payload = bytearray()
        self.stderr_tail = b""
        self.timed_out = False
        self.status: int | None = None
        self.max_rss_kb = 0
        self.cpu_s = 0.0


def _child_main(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    result_fd: int,
    stderr_fd: int,
    timeout_s: float,
    memory_mb: int,
) -> None:  # pragma: no cover - runs in the forked child
    exit_code = 0
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        # Native libraries print their dying words to fd 2; the parent keeps the tail.
        os.dup2(stderr_fd, 2)
        os.close(stderr_fd)
        if faulthandler.is_enabled():
            # A handler installed on another descriptor (test runners do) would
            # print the crash around the parent's back; keep it in the tail too.
            # Descriptor 2 itself: sys.stderr may be an object without one (a captured stream).
            faulthandler.enable(file=2)
        _CHILD_CLOCK.deadline = time.monotonic() + timeout_s
        _limit_address_space(memory_mb)
        try:
            message: tuple[Any, ...] = ("ok", func(*args, **kwargs))
        except ExtractionError as exc:
            message = ("extraction_error", exc.error_type.value, exc.message, exc.details)
        except MemoryError:
            message = ("memory",)
        except RecursionError:
            message = ("crash", "RecursionError")
        except BaseException as exc:
            message = ("crash", type(exc).__name__)
        try:
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(("memory",))
        except Exception as exc:
            if message[0] == "extraction_error":
                payload = pickle.dumps(("extraction_error", message[1], message[2], {}))
            else:
                payload = pickle.dumps(("crash", f"unpicklable result ({type(exc).__name__})"))
        _write_all(result_fd, _HEADER.pack(len(payload)))
        _write_all(result_fd, payload)
    except BaseException:
        exit_code = 70
    finally:
        # os._exit: no atexit handlers, no flushing of buffers copied from the parent.
        os._exit(exit_code)


def _limit_address_space(memory_mb: int) -> None:  # pragma: no cover - runs in the forked child
    baseline = _current_address_space_bytes()
    limit = baseline + memory_mb * _MIB
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _resident_kb() -> int:
    """Resident set of this process in KiB; 0 when /proc is unavailable."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _current_address_space_bytes() -> int:
    """VmSize of this process (what RLIMIT_AS counts); 0 when /proc is unavailable."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _write_all(fd: int, data: bytes) -> None:  # pragma: no cover - runs in the forked child
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _collect(pid: int, result_fd: int, stderr_fd: int, deadline: float, outcome: _Outcome) -> None:
    """Read the child's result and stderr until both close or the deadline passes, then reap."""
    open_fds = {result_fd, stderr_fd}
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome.timed_out = True
            _kill_group(pid)
            break
        try:
            readable, _, _ = select.select(list(open_fds), [], [], min(remaining, 1.0))
        except InterruptedError:
            continue
        for fd in readable:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN):
                    continue
                chunk = b""
            if not chunk:
                open_fds.discard(fd)
            elif fd == result_fd:
                outcome.payload += chunk
            else:
                outcome.stderr_tail = (outcome.stderr_tail + chunk)[-_STDERR_TAIL_BYTES:]
    if not outcome.timed_out:
        # Both pipes closed: the child is exiting. It may still be writing nothing
        # but flushing native state, so keep honouring the deadline while reaping.
        while True:
            waited_pid, status, usage = os.wait4(pid, os.WNOHANG)
            if waited_pid == pid:
                _record_exit(outcome, status, usage)
                return
            if time.monotonic() >= deadline:
                outcome.timed_out = True
                _kill_group(pid)
                break
            time.sleep(_POLL_INTERVAL_S / 5)
    _reap(pid, outcome)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
        return
    except ProcessLookupError:
        return
    except OSError:
        pass  # the group may not be signalled (EPERM): signal the child alone
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int, outcome: _Outcome) -> None:
    if outcome.status is not None:
        return
    give_up = time.monotonic() + _KILL_REAP_TIMEOUT_S
    while True:
        try:
            waited_pid, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if waited_pid == pid:
            _record_exit(outcome, status, usage)
            return
        if time.monotonic() >= give_up:
            # SIGKILL cannot be ignored; a child still alive here is stuck in the
            # kernel. Block rather than leave a zombie.
            waited_pid, status, usage = os.wait4(pid, 0)
            _record_exit(outcome, status, usage)
            return
        time.sleep(_POLL_INTERVAL_S / 5)


def _record_exit(outcome: _Outcome, status: int, usage: resource.struct_rusage) -> None:
    outcome.status = status
    outcome.max_rss_kb = usage.ru_maxrss  # kilobytes on Linux
    outcome.cpu_s = usage.ru_utime + usage.ru_stime


def _interpret(outcome: _Outcome, *, timeout_s: float, memory_mb: int, crash_error_type: ErrorType) -> Any:
    """The child's value, or the ``ExtractionError`` its end maps to."""
    if outcome.timed_out:
        raise ExtractionError(
            ErrorType.TIMEOUT,
            f"Extraction did not finish within {timeout_s:g} seconds and was stopped.",
            timeout_s=timeout_s,
        )

    message = _decode_payload(outcome.payload)
    if message is not None:
        kind = message[0]
        if kind == "ok":
            return message[1]
        if kind == "extraction_error":
            _kind, error_type, text, details = message
            raise ExtractionError(ErrorType(error_type), text, **details)
        if kind == "memory":
            raise _memory_error(memory_mb)
        if kind == "crash":
            _log_crash(outcome, f"exception {message[1]}")
            raise ExtractionError(
                crash_error_type,
                "The file could not be parsed: the parser failed on malformed content.",
                exception_type=message[1],
            )
    _raise_for_death(outcome, memory_mb, crash_error_type)


def _raise_for_death(outcome: _Outcome, memory_mb: int, crash_error_type: ErrorType) -> NoReturn:
    """No (complete) result: the child died. Out of memory, a signal, or an exit without a result."""
    tail = outcome.stderr_tail.lower()
    if any(marker in tail for marker in _OUT_OF_MEMORY_MARKERS):
        raise _memory_error(memory_mb)
    status = outcome.status or 0
    grown_mb = (outcome.max_rss_kb - outcome.resident_at_fork_kb) / 1024.0
    if os.WIFSIGNALED(status) and grown_mb >= 0.8 * memory_mb:
        # Native allocators often abort or trap without a word when memory runs
        # out; a child that grew to its budget before dying ran out of memory.
        raise _memory_error(memory_mb)
    if os.WIFSIGNALED(status):
        signal_number = os.WTERMSIG(status)
        try:
            signal_name = signal.Signals(signal_number).name
        except ValueError:
            signal_name = f"signal {signal_number}"
        _log_crash(outcome, signal_name)
        raise ExtractionError(
            crash_error_type,
            f"The file could not be parsed: the parser crashed ({signal_name}).",
            signal=signal_name,
        )
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    _log_crash(outcome, f"exit status {exit_code} without a result")
    raise ExtractionError(
        crash_error_type,
        "The file could not be parsed: the parser stopped without a result.",
        exit_code=exit_code,
    )


def _decode_payload(payload: bytearray) -> tuple[Any, ...] | None:
    if len(payload) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack_from(payload)
    if len(payload) - _HEADER.size != length:
        return None  # truncated: the child died while writing
    try:
        message: tuple[Any, ...] = pickle.loads(memoryview(payload)[_HEADER.size :])  # noqa: S301 - our own child wrote it
    except Exception:
        return None
    return message


def _memory_error(memory_mb: int) -> ExtractionError:
    return ExtractionError(
        ErrorType.MEMORY_LIMIT,
        f"Extraction needed more than its memory budget of {memory_mb} MB and was stopped.",
        memory_mb=memory_mb,
    )


def _log_crash(outcome: _Outcome, cause: str) -> None:
    tail = outcome.stderr_tail.decode("utf-8", "replace").strip()
    logger.warning(
        "isolated extraction crashed: %s",
        cause,
        extra={"child_stderr_tail": tail[-2000:], "max_rss_mb": round(outcome.max_rss_kb / 1024.0, 1)},
    )
