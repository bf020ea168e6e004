"""Write and request rates of one large job against the per-item and per-prefix limits of DynamoDB and S3.

    .venv/bin/python tests/benchmarks/capacity_model.py [--files 100000] [--workers 1000] [--unit-seconds 0.5]
        [--shards 1,16,32] [--outputs-per-unit 1]

A model, not a measurement: the completion rate is workers / seconds per unit (capped by nothing else), and each
unit's writes are the ones the worker makes (docs/capacity.md). It prints, per counter shard count, the WCU/s that
land on the busiest counter shard item, the busiest partition key before adaptive capacity splits it, and the S3
request rates on the job's output prefix and the input prefix, each against its limit.

The busiest shard is computed, not assumed: the job's unit ids are hashed to their shards by the service's own
``counter_shard``, and the fullest shard's share of the units scales the fleet's rate (a perfect spread would be
1/S of it).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from data_extract.store.tables import counter_shard

ITEM_WCU_LIMIT = 1000  # per item, per second
TRANSACTION_WCU_PER_ITEM = 2  # a transactional write costs double
S3_PREFIX_WRITES = 3500
S3_PREFIX_READS = 5500
ITEMS_PER_RESULT_TRANSACTION = 3  # the unit, its run's counter (shard), the file event


def busiest_shard_share(files: int, shards: int) -> float:
    """The fraction of a job's units that land on its fullest counter shard (unit ids as submit numbers them)."""
    per_shard = Counter(counter_shard(f"{i:05d}", shards) for i in range(1, files + 1))
    return max(per_shard.values()) / files


def model(files: int, workers: int, unit_seconds: float, shards: int, outputs_per_unit: int) -> dict[str, float]:
    rate = workers / unit_seconds  # units finished per second across the fleet
    per_shard_updates = rate * busiest_shard_share(files, shards)
    return {
        "units_per_second": rate,
        "drain_seconds": files / rate,
        "counter_item_updates": per_shard_updates,
        "counter_item_wcu": per_shard_updates * TRANSACTION_WCU_PER_ITEM,
        "job_partition_wcu": rate * ITEMS_PER_RESULT_TRANSACTION * TRANSACTION_WCU_PER_ITEM,
        "output_prefix_puts": rate * outputs_per_unit,
        "input_prefix_gets": rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--unit-seconds", type=float, default=0.5)
    parser.add_argument("--shards", default="1,16,32")
    parser.add_argument("--outputs-per-unit", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"{args.files:,} files, {args.workers:,} workers, {args.unit_seconds} s per unit")
    print(
        "| counter shards | units/s | drain s | updates/s on the busiest shard | WCU/s on it (limit 1,000) | "
        "S3 PUT/s on outputs (limit 3,500) | S3 GET/s on inputs (limit 5,500) | holds |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for shards in [int(s) for s in args.shards.split(",")]:
        m = model(args.files, args.workers, args.unit_seconds, shards, args.outputs_per_unit)
        holds = (
            m["counter_item_wcu"] <= ITEM_WCU_LIMIT
            and m["output_prefix_puts"] <= S3_PREFIX_WRITES
            and m["input_prefix_gets"] <= S3_PREFIX_READS
        )
        print(
            f"| {shards} | {m['units_per_second']:,.0f} | {m['drain_seconds']:,.0f} | "
            f"{m['counter_item_updates']:,.0f} | {m['counter_item_wcu']:,.0f} | "
            f"{m['output_prefix_puts']:,.0f} | {m['input_prefix_gets']:,.0f} | "
            f"{'yes' if holds else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
