"""`data-extract local`: the local stack of a source checkout (moto server, the API, the queue pollers)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from data_extract.cli.context import ExitCode

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def source_checkout() -> Path | None:
    """The checkout holding template.yaml and infra/local: this package's own (an editable install), else the
    current directory or one above it."""
    package_root = Path(__file__).resolve().parents[3]
    here = Path.cwd().resolve()
    for candidate in (package_root, here, *here.parents):
        if (candidate / "template.yaml").is_file() and (candidate / "infra" / "local" / "stack.py").is_file():
            return candidate
    return None


@click.command(context_settings=CONTEXT)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    envvar="PORT",
    default=8000,
    show_default=True,
    help="API port on 127.0.0.1 [env PORT]",
)
@click.option(
    "--seed",
    "seed_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="once the stack is up, submit every file of this folder as one job, wait for it and print "
    "where its artifacts are",
)
@click.option(
    "--seed-timeout",
    type=click.FloatRange(min=1),
    default=1800.0,
    show_default=True,
    help="how long --seed waits for its job",
)
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SAM template to run (default: the checkout's template.yaml)",
)
@click.option(
    "--worker-loops",
    type=click.IntRange(1, 64),
    envvar="WORKER_LOOPS",
    default=1,
    show_default=True,
    help="worker processes polling the work queue, as Lambda runs several containers [env WORKER_LOOPS]",
)
def local(port: int, seed_dir: Path | None, seed_timeout: float, template: Path | None, worker_loops: int) -> int:
    """Start the local stack: every table, bucket and queue of template.yaml in a moto server on 127.0.0.1, the
    API on http://127.0.0.1:PORT, and pollers feeding the worker and finalize handlers from the queues.
    Ctrl-C stops it; its data lives in memory only. DATA_EXTRACT_API_KEY turns authentication on."""
    root = source_checkout()
    if root is None:
        raise click.UsageError(
            "the local stack runs from a source checkout of data-extract (template.yaml and "
            "infra/local/); run this inside one"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from infra.local import stack

    os.environ["PORT"] = str(port)
    argv = ["--seed-timeout", str(seed_timeout), "--worker-loops", str(worker_loops)]
    if seed_dir is not None:
        argv += ["--seed", str(seed_dir)]
    if template is not None:
        argv += ["--template", str(template)]
    code = stack.main(argv)
    return ExitCode.COMPLETED if code == 0 else ExitCode.USAGE
