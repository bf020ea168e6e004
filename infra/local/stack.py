"""The local stack: the deployed code, wired as template.yaml wires it, against moto on loopback.

    python -m infra.local.stack [--seed DIR] [--worker-loops N] [--isolated-workers]

Starts moto server on 127.0.0.1 (``MOTO_PORT`` or a free port), creates the template's table, bucket and queues in
it, gives this process the environment the template gives the functions, starts one SQS poller per queue-triggered
function (Lambda's event source mapping, see poller.py) and serves the API with uvicorn on 127.0.0.1:``PORT``
(default 8000). ``--worker-loops N`` runs the worker as N processes polling the work queue, as Lambda runs
several containers of it (see worker_loop.py); ``--isolated-workers`` runs all N as processes and none in the
stack's own, so the API and moto share their process with no worker and every worker can be killed on its own
(fault drills). A worker process that dies without being asked to stop (a segfault, the OOM killer, ``kill -9``)
is replaced, as Lambda replaces a failed execution environment; its batch returns to the queue after the
visibility timeout.
``DATA_EXTRACT_API_KEY`` in the environment turns authentication on. Ctrl-C or SIGTERM stops
everything: the pollers finish the batch in hand, uvicorn shuts down, moto stops, and the exit code is 0.
Everything lives in memory and is gone when the stack stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

HOST = "127.0.0.1"
REGION = "us-east-1"
API_PREFIX = "/api/v1"
TERMINAL_JOB_STATUSES = {"completed", "partial", "failed", "cancelled"}
# The function --worker-loops scales: the one that extracts files.
SCALED_FUNCTION = "WorkerFunction"
# A worker process that dies sooner than this after starting (a broken handler, say) is started again only after
# the same delay, so a process that cannot start does not fill the log at full speed.
EARLY_EXIT_SECONDS = 10.0
# How a loop process ends when asked to stop: status 0 once its batch is done (its SIGTERM/SIGINT handler), or the
# signal itself when it arrived before the handler was installed.
ASKED_TO_STOP = (0, -signal.SIGTERM, -signal.SIGINT)

log = logging.getLogger("data_extract.local.stack")


def _isolate_from_real_aws(endpoint_url: str) -> None:
    """Every boto3 client of this process talks to moto, with credentials that open nothing real."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint_url,
            # No shared config or credentials files: nothing there may override the endpoint or the keys.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )


def apply_function_environment(environment: dict[str, str], resource_variables: set[str]) -> None:
    """Set what the template gives the functions. Variables naming the stack's resources always win; any other
    (limits, log level, ...) already set in this shell is kept, so a developer can try other values."""
    for name, value in environment.items():
        if name in resource_variables:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)


def _exit_description(status: int) -> str:
    """Popen's returncode in words: a negative one is the signal that ended the process."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        return f"was killed by {signal.Signals(-status).name} (exit status {status})"
    except ValueError:
        return f"was killed by signal {-status} (exit status {status})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class LocalStack:
    # What starts one more worker "container" (worker_loop.py reads its spec from the environment).
    loop_command: tuple[str, ...] = (sys.executable, "-m", "infra.local.worker_loop")

    def __init__(
        self,
        *,
        api_port: int,
        moto_port: int,
        template_path: Path | None = None,
        worker_loops: int = 1,
        schedule_interval: float | None = None,
        faults: list[str] | None = None,
        isolated_workers: bool = False,
    ) -> None:
        if worker_loops < 1:
            raise ValueError("worker_loops must be at least 1")
        self.api_port = api_port
        self.moto_port = moto_port
        self.template_path = template_path
        self.worker_loops = worker_loops
        self.loop_processes: list[subprocess.Popen[bytes]] = []
        self.isolated_workers = isolated_workers
        # Held while a loop process is started or stopped: shutdown never misses one started meanwhile.
        self.loop_lock = threading.Lock()
        self.loop_started: dict[int, float] = {}  # pid -> when it started (time.monotonic)
        self.loop_watcher: threading.Thread | None = None
        self.schedule_interval = schedule_interval
        self.faults = faults or []
        self.fault_injector: Any = None
        self.stop = threading.Event()
        self.pollers: list[Any] = []
        self.schedules: list[Any] = []
        self.moto: Any = None
        self.server: Any = None
        self.server_running = False
        self.endpoint_url = ""

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def start_backend(self) -> None:
        """moto, the template's resources, the functions' environment and the pollers (not yet the API)."""
        from moto.server import ThreadedMotoServer

        from infra.local.moto_fixes import install as install_moto_fixes

        install_moto_fixes()  # per-item transaction rollback, serialized writes (see moto_fixes.py)

        from infra.local.template import DEFAULT_TEMPLATE, load_template

        self.moto = ThreadedMotoServer(ip_address=HOST, port=self.moto_port, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        _isolate_from_real_aws(self.endpoint_url)

        import boto3

        from infra.local.poller import SqsPoller
        from infra.local.resources import physical_name, provision, resource_variables

        template = load_template(self.template_path or DEFAULT_TEMPLATE)
        # Lambda puts a function's code (its CodeUri) first on the import path; so does the local stack.
        for code_uri in {f.code_uri for f in template.functions.values() if f.code_uri}:
            code_dir = str((template.path.parent / code_uri).resolve())
            if code_dir not in sys.path:
                sys.path.insert(0, code_dir)
        session = boto3.session.Session(region_name=REGION)
        resources = provision(session, template)
        apply_function_environment(resources.environment, resource_variables(template))
        # Outside Lambda there is no X-Ray daemon and no CloudWatch to receive metrics: keep the logs readable.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # Locally, callbacks may go to a receiver on this machine (http, loopback); deployed functions never get this.
        os.environ.setdefault("DATA_EXTRACT_CALLBACK_LOCAL_MODE", "true")
        self.resources = resources

        sqs = session.client("sqs")
        for function in template.functions.values():
            for event in function.sqs_events:
                if not event.enabled or (self.isolated_workers and function.logical_id == SCALED_FUNCTION):
                    continue
                poller = SqsPoller(
                    sqs,
                    function,
                    event,
                    queue_url=resources.queue_url(event.queue),
                    queue_arn=resources.queue_arn(event.queue),
                    function_name=physical_name(resources.stack_name, function.logical_id),
                    stop=self.stop,
                    region=resources.region,
                    account_id=resources.account_id,
                )
                # Import the handler now, as Lambda's init phase would: a broken handler stops the stack at once.
                poller.handler  # noqa: B018 - the attribute read imports the handler
                self.pollers.append(poller)
        if self.faults:
            from infra.local.faults import FaultInjector, FaultSpec

            self.fault_injector = FaultInjector([FaultSpec.parse(f) for f in self.faults])
            self.fault_injector.install()
        from infra.local.schedule import ScheduleRunner

        for function in template.functions.values():
            for schedule in function.schedule_events:
                if schedule.enabled:
                    runner = ScheduleRunner(
                        function,
                        schedule,
                        stop=self.stop,
                        region=resources.region,
                        account_id=resources.account_id,
                        interval_seconds=self.schedule_interval,
                        function_name=physical_name(resources.stack_name, function.logical_id),
                    )
                    runner.handler  # noqa: B018 - import now, as for the pollers
                    self.schedules.append(runner)
        for poller in self.pollers:
            poller.start()
        for runner in self.schedules:
            runner.start()
        self._start_loop_processes(template, resources)

    def _start_loop_processes(self, template: Any, resources: Any) -> None:
        """The worker's other "containers": processes of their own, so they extract in parallel (no shared GIL)."""
        from infra.local.resources import physical_name
        from infra.local.worker_loop import SPEC_VARIABLE, loop_spec

        function = template.functions.get(SCALED_FUNCTION)
        processes = self.worker_loops if self.isolated_workers else self.worker_loops - 1
        if processes == 0 or function is None:
            return
        spec = loop_spec(
            template_path=template.path,
            function_id=function.logical_id,
            function_name=physical_name(resources.stack_name, function.logical_id),
            queues={
                e.queue: (resources.queue_url(e.queue), resources.queue_arn(e.queue)) for e in function.sqs_events
            },
            region=resources.region,
            account_id=resources.account_id,
        )
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            SPEC_VARIABLE: spec,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        with self.loop_lock:
            for _ in range(processes):
                self.loop_processes.append(self._start_loop_process(env))
        self.loop_watcher = threading.Thread(
            target=self._replace_dead_loop_processes, args=(env,), name="worker-loop-watcher", daemon=True
        )
        self.loop_watcher.start()

    def _start_loop_process(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        # A process group of its own: Ctrl-C in the terminal reaches the stack alone, which stops its loops itself
        # (SIGTERM in shutdown), so a loop still starting up never dies of the key press and looks crashed.
        process = subprocess.Popen(list(self.loop_command), env=env, process_group=0)
        self.loop_started[process.pid] = time.monotonic()
        log.info("%s: worker process %d started", SCALED_FUNCTION, process.pid)
        return process

    def _replace_dead_loop_processes(self, env: dict[str, str]) -> None:
        """Start another loop process for each one that died without being asked to stop, as Lambda replaces an
        execution environment that crashed. One stopped by SIGTERM or SIGINT is not replaced, nor is anything once
        the stack is stopping."""
        while not self.stop.wait(0.5):
            for index, process in enumerate(list(self.loop_processes)):
                status = process.poll()
                if status is None or status in ASKED_TO_STOP:
                    continue
                lived = time.monotonic() - self.loop_started.pop(process.pid)
                delay = EARLY_EXIT_SECONDS if lived < EARLY_EXIT_SECONDS else 0.0
                log.warning(
                    "%s: worker process %d %s after %.0f s; starting another%s (a batch it held returns "
                    "to the queue after the visibility timeout)",
                    SCALED_FUNCTION,
                    process.pid,
                    _exit_description(status),
                    lived,
                    f" in {delay:.0f} s" if delay else "",
                )
                if delay and self.stop.wait(delay):
                    return
                with self.loop_lock:
                    if self.stop.is_set():
                        return
                    self.loop_processes[index] = self._start_loop_process(env)

    def serve_api(self) -> None:
        """Serve the API in this (main) thread until a signal asks to stop."""
        import uvicorn

        config = uvicorn.Config(
            "data_extract.api.app:create_app",
            factory=True,
            host=HOST,
            port=self.api_port,
            log_level=os.environ.get("UVICORN_LOG_LEVEL", "info"),
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.server.run()

    def request_stop(self) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.should_exit = True

    def shutdown(self) -> None:
        self.request_stop()
        busy = [p for p in [*self.pollers, *self.schedules] if p.busy]
        if busy:
            print(
                f"Stopping: waiting for {', '.join(p.function_name for p in busy)} to finish the batch in hand "
                "(Ctrl-C again abandons it)...",
                flush=True,
            )
        with self.loop_lock:  # stop is set: the watcher starts no other process after this
            for process in self.loop_processes:
                if process.poll() is None:
                    process.terminate()  # SIGTERM: the loop finishes the batch in hand
        for poller in [*self.pollers, *self.schedules]:
            while poller.is_alive():
                poller.join(timeout=0.5)
        for process in self.loop_processes:
            process.wait()
        if self.fault_injector is not None:
            print(f"Faults injected: {self.fault_injector.summary()}", flush=True)
        if self.moto is not None:
            self.moto.stop()

    def banner(self) -> str:
        auth = "on (DATA_EXTRACT_API_KEY is set)" if os.environ.get("DATA_EXTRACT_API_KEY") else "off"
        consumers = ", ".join(f"{p.function.logical_id} <- {p.event.queue}" for p in self.pollers)
        if self.loop_processes:
            pids = ", ".join(str(p.pid) for p in self.loop_processes)
            consumers += (
                f"; {SCALED_FUNCTION} x{self.worker_loops} "
                f"({'' if self.isolated_workers else 'this process and '}processes {pids})"
            )
        schedules = ", ".join(f"{r.function.logical_id} every {r.interval_seconds:g} s" for r in self.schedules)
        return "\n".join(
            [
                "data-extract local stack",
                f"  API        {self.api_url}{API_PREFIX}",
                f"  API docs   {self.api_url}/docs",
                f"  moto       {self.endpoint_url}   (AWS_ENDPOINT_URL for the aws CLI or boto3)",
                f"  auth       {auth}",
                f"  table      {os.environ['DATA_EXTRACT_TABLE_NAME']}",
                f"  bucket     {os.environ['DATA_EXTRACT_BUCKET_NAME']}",
                f"  pollers    {consumers}",
                f"  schedules  {schedules or '(none)'}",
                "  Ctrl-C stops the stack; its data lives in memory only.",
            ]
        )


# ---------------------------------------------------------------- --seed


def _first_api_key() -> str | None:
    """The first of the keys DATA_EXTRACT_API_KEY lists (several are valid at once while keys rotate)."""
    keys = [k.strip() for k in os.environ.get("DATA_EXTRACT_API_KEY", "").replace("\n", ",").split(",")]
    return next((k for k in keys if k), None)


def seed(api_url: str, directory: Path, *, timeout_seconds: float, out: Any = sys.stdout) -> str:
    """Submit every file of DIRECTORY as one job (through the Python client: multipart, or presigned uploads when
    large), wait for it to end, print its status and where its artifacts are.

    Returns the job's final status.
    """
    from data_extract.client import DataExtractClient, FileSelectionError, WaitTimedOut, collect_files

    try:
        files = collect_files([directory])
    except FileSelectionError as exc:
        raise SystemExit(f"--seed: {exc}") from None
    with DataExtractClient(api_url, _first_api_key(), timeout=120) as client:
        job_id = client.submit_files(files).job_id
        print(f"seed: job {job_id} submitted with {len(files)} file(s) from {directory}", file=out, flush=True)
        last_progress: list[str] = []

        def report(job: Any) -> None:
            p = job.progress
            line = (
                f"seed: {job.status}  processed {p.processed}  failed {p.failed}  skipped {p.skipped}  "
                f"pending {p.pending}"
            )
            if line not in last_progress:
                print(line, file=out, flush=True)
                last_progress[:] = [line]

        try:
            job = client.wait_for_job(job_id, timeout=timeout_seconds, on_update=report)
        except WaitTimedOut as exc:
            print(
                f"seed: job {job_id} still {exc.job.status} after {timeout_seconds:.0f} s; giving up waiting",
                file=out,
                flush=True,
            )
            return str(exc.job.status)
        for file in job.files:
            if file.status in ("failed", "skipped"):
                print(
                    f"seed:   {file.status:<8} {file.source_path}: {file.error_type} "
                    f"{file.error_message or ''}".rstrip(),
                    file=out,
                )
        artifacts = client.list_artifacts(job_id).artifacts
        print(f"seed: job {job_id} {job.status}; {len(artifacts)} artifact(s):", file=out)
        for artifact in artifacts:
            print(f"  {api_url}{API_PREFIX}/jobs/{job_id}/artifacts/{artifact.path}", file=out)
        print(f"seed: download them with: data-extract artifacts {job_id} --download DIR --url {api_url}", file=out)
        out.flush()
        return str(job.status)


def _seed_when_ready(stack: LocalStack, directory: Path, timeout_seconds: float) -> None:
    while not stack.stop.is_set() and not (stack.server is not None and stack.server.started):
        time.sleep(0.1)
    if stack.stop.is_set():
        return
    try:
        seed(stack.api_url, directory, timeout_seconds=timeout_seconds)
    except SystemExit as exc:
        print(exc, file=sys.stderr, flush=True)
    except Exception:
        log.exception("seeding from %s failed", directory)


# ---------------------------------------------------------------- entry point


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed",
        type=Path,
        metavar="DIR",
        help="after start, submit every file in DIR as one job and print its result",
    )
    parser.add_argument(
        "--seed-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="how long --seed waits for the job to end (default 1800)",
    )
    parser.add_argument("--template", type=Path, help="template to run (default: the repository's template.yaml)")
    parser.add_argument(
        "--worker-loops",
        type=int,
        default=int(os.environ.get("WORKER_LOOPS", "1")),
        metavar="N",
        help="worker processes polling the work queue, like Lambda containers (default 1, env WORKER_LOOPS)",
    )
    parser.add_argument(
        "--isolated-workers",
        action="store_true",
        default=os.environ.get("ISOLATED_WORKERS", "").lower() in ("1", "true", "yes"),
        help="run all --worker-loops workers as processes of their own and none in the stack's "
        "process: the API and moto share theirs with no worker, and any worker can be killed "
        "alone (it is replaced) (env ISOLATED_WORKERS=1)",
    )
    parser.add_argument(
        "--schedule-interval",
        type=float,
        metavar="SECONDS",
        help="run scheduled functions (the sweeper) this often instead of the template's rate",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SERVICE:OPERATION:KIND:N",
        help="inject a fault into every Nth call, e.g. dynamodb:TransactWriteItems:throttle:3 "
        "(see infra/local/faults.py); repeatable",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.seed is not None and not args.seed.is_dir():
        print(f"--seed: {args.seed} is not a directory", file=sys.stderr)
        return 2
    if args.worker_loops < 1:
        print("--worker-loops: must be at least 1", file=sys.stderr)
        return 2
    from infra.local import awscalls

    call_log = awscalls.install_from_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # moto logs every request it serves, botocore where it found its settings, httpx the seed's requests.
    for noisy in ("werkzeug", "botocore", "boto3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = LocalStack(
        api_port=int(os.environ.get("PORT", "8000")),
        moto_port=int(os.environ.get("MOTO_PORT") or _free_port()),
        template_path=args.template,
        worker_loops=args.worker_loops,
        schedule_interval=args.schedule_interval,
        faults=args.fault,
        isolated_workers=args.isolated_workers,
    )

    signals_seen = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles the signal while it serves and hands it on here once it has shut down.
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1 and not stack.server_running:
            print(
                "Stopping at once; in-flight batches are abandoned (their messages return to the queue).",
                file=sys.stderr,
                flush=True,
            )
            os._exit(130)
        stack.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        stack.start_backend()
        if call_log is not None:
            awscalls.reset()  # count what the functions do, not the stack's own provisioning
        print(stack.banner(), flush=True)
        if args.seed is not None:
            threading.Thread(
                target=_seed_when_ready, args=(stack, args.seed, args.seed_timeout), name="seed", daemon=True
            ).start()
        if not stack.stop.is_set():
            stack.server_running = True
            stack.serve_api()
            stack.server_running = False
    finally:
        stack.shutdown()
        if call_log is not None:
            awscalls.write(call_log)
    print("Local stack stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
