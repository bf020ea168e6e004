"""Benchmark of the corpus semantic stage: wall time and peak memory per step at 1,000 / 10,000 / 100,000 chunks.

    .venv/bin/python tests/benchmarks/semantic_bench.py [--sizes 1000,10000,100000] [--threads 1] [--recall]

Chunks are made from the corpus's real documents (tests/support/semantic_corpus.py: extracted and chunked by the
project's pipeline, then drawn from the pooled sentences, seeded). Runs on one thread by default (BLAS and OpenMP
pinned before numpy loads), as the targets are stated for one core. Memory is the process's resident set,
sampled every 10 ms: "peak" is the highest RSS inside a step's window, "+peak" the same minus the RSS just before
the stage started (what the step adds on top of the loaded chunks). ``--recall`` also runs the large-corpus
candidate search (LSA neighbours, exact verification) on the 10,000-chunk corpus and compares its pairs with the
exact search's.

Prints one table per size, then the ratios between sizes. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--threads", default="1", help="BLAS/OpenMP threads (the targets are for one core)")
    parser.add_argument("--recall", action="store_true", help="measure the embedding search's recall at 10,000")
    parser.add_argument(
        "--corpus", default=os.environ.get("DATA_EXTRACT_CORPUS_DIR", str(REPO.parent / "shared" / "corpus"))
    )
    return parser.parse_args()


ARGS = _parse()
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = ARGS.threads
sys.path[:0] = [str(REPO / "functions"), str(REPO)]

import numpy as np  # noqa: E402 - after the thread caps and sys.path above

from data_extract.pipeline.semantic.analyze import analyze  # noqa: E402 - after the thread caps and sys.path above
from data_extract.pipeline.semantic.types import SemanticOptions  # noqa: E402 - after the thread caps and sys.path above
from tests.support.semantic_corpus import corpus_chunks, synthetic_chunks  # noqa: E402 - after the thread caps and sys.path above

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int, float]] = []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), rss_bytes(), time.process_time()))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss, _ in self.samples if start <= t <= end]
        return max(inside) if inside else rss_bytes()

    def cpu(self, start: float, end: float) -> float:
        """Process CPU seconds between two instants (the machine may be shared: wall time alone misleads)."""
        inside = [cpu for t, _, cpu in self.samples if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) > 1 else 0.0


def mib(value: float) -> str:
    return f"{value / 2**20:8.0f}"


def run(size: int, corpus: Path) -> dict[str, tuple[float, int, int, float]]:
    chunks = synthetic_chunks(corpus, size)
    options = SemanticOptions(report_format="html", graph_format="json")
    baseline = rss_bytes()
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    analysis = analyze(chunks, options)
    ended = time.perf_counter()
    sampler.stop()
    rows: dict[str, tuple[float, int, int, float]] = {}
    cursor = started
    for step, ms in analysis.stage_timings_ms.items():  # insertion order is execution order
        window_end = cursor + ms / 1000
        peak = sampler.peak(cursor, window_end)
        rows[step] = (ms, peak, peak - baseline, sampler.cpu(cursor, window_end))
        cursor = window_end
    total_peak = sampler.peak(started, ended)
    rows["total"] = ((ended - started) * 1000, total_peak, total_peak - baseline, sampler.cpu(started, ended))
    s = analysis.summary
    print(
        f"\n{size:,} chunks ({len({c.source_file for c in chunks})} files): "
        f"vocabulary {s['summary']['vocabulary_size']}, "
        f"{s['summary']['n_components']} topics, {s['summary']['n_clusters']} clusters, "
        f"silhouette {s['clusters']['silhouette_score']}, {s['similarity']['statistics']['n_similar_pairs']} related "
        f"pairs, {len(s['similarity']['duplicate_groups'])} duplicate groups, search {s['similarity']['search']}"
    )
    print(f"  {'step':<22}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}{'+peak MiB':>10}")
    for step, (ms, peak, delta, cpu) in rows.items():
        print(f"  {step:<22}{ms / 1000:9.2f}{cpu:9.2f}{mib(peak):>10}{mib(delta):>10}")
    return rows


def recall(corpus: Path, size: int = 10_000) -> None:
    from data_extract.pipeline.semantic import similarity, topics, vectorize

    chunks = synthetic_chunks(corpus, size)
    options = SemanticOptions()
    matrix = vectorize.tfidf([c.text for c in chunks], options).matrix
    nonzero = np.flatnonzero(np.diff(matrix.indptr))
    matrix = matrix[nonzero]
    result = topics.lsa_topics(matrix, np.arange(matrix.shape[1]).astype(str), options)
    for threshold in (options.related_threshold, options.duplicate_threshold, 0.5):
        started = time.perf_counter()
        exact = similarity.pairs_above(matrix, threshold)
        exact_s = time.perf_counter() - started
        started = time.perf_counter()
        approx = similarity.pairs_above_via_embedding(
            matrix,
            result.vectors,
            threshold,
            candidates_per_row=options.embedding_candidates,
            embedding_floor=threshold - options.embedding_margin,
        )
        approx_s = time.perf_counter() - started
        truth = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
        got = set(zip(approx.i.tolist(), approx.j.tolist(), strict=True))
        hit = len(truth & got)
        print(
            f"  threshold {threshold}: exact {len(truth)} pairs in {exact_s:.2f} s; embedding search "
            f"{len(got)} pairs in {approx_s:.2f} s, recall {hit / len(truth) if truth else 1.0:.4f}, "
            f"precision {hit / len(got) if got else 1.0:.4f}"
        )


def main() -> int:
    corpus = Path(ARGS.corpus)
    if not (corpus / "MANIFEST.tsv").is_file():
        print(f"corpus not found at {corpus} (set DATA_EXTRACT_CORPUS_DIR)", file=sys.stderr)
        return 2
    real = corpus_chunks(corpus)
    print(
        f"semantic stage benchmark: {len(real)} real corpus chunks from {len({c.source_file for c in real})} "
        f"documents as sentence source; threads={ARGS.threads}; python {sys.version.split()[0]}; "
        f"numpy {np.__version__}; cpus {os.cpu_count()}; load {os.getloadavg()[0]:.1f}"
    )
    results = {}
    for size in [int(s) for s in ARGS.sizes.split(",") if s]:
        results[size] = run(size, corpus)
    sizes = sorted(results)
    for small, large in itertools.pairwise(sizes):
        t_small, t_large = results[small]["total"][3] or 1e-9, results[large]["total"][3]
        m_small, m_large = results[small]["total"][2], results[large]["total"][2]
        print(
            f"\n{large:,} vs {small:,} chunks ({large / small:.0f}x): time x{t_large / t_small:.1f}, "
            f"added memory x{m_large / max(m_small, 1):.1f}"
        )
    if ARGS.recall:
        print("\nlarge-corpus candidate search vs exact search, 10,000 chunks:")
        recall(corpus)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
