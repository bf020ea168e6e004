"""The corpus semantic stage as one pure function: chunks and options in, summary, quality and artifacts out.

Steps, each timed (``stage_timings_ms``):

1. ``semantic_quality``: readability and the composite quality score of every chunk (quality.py). Chunks under
   ``min_quality`` are left out of the analysis below (not out of the outputs: the caller flags them there),
   so boilerplate and broken text do not shape the topics or the clusters.
2. ``semantic_tfidf``: TF-IDF over the analysed chunks (vectorize.py).
3. ``semantic_lsa``: LSA topics and k-means clusters with a (sampled) silhouette score (topics.py).
4. ``semantic_similarity``: every pair at or above min(related, duplicate) threshold without an n x n matrix
   (similarity.py: exact up to ``exact_search_limit`` distinct chunks, above that candidates from the LSA vectors
   of step 3, verified exactly); duplicate groups are the connected components of the pairs at or above the
   duplicate threshold, joined with the chunks whose text is identical (after case and whitespace folding) so a
   file uploaded twice always forms groups with its twin, whatever its quality or vocabulary; each chunk keeps its
   ``max_neighbors`` most similar related chunks in ``similar_pairs`` and the graph.
5. ``semantic_report``: the artifacts (report.py).

Deterministic: fixed seeds, stable sorts, and ties broken by chunk order.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from data_extract.pipeline.semantic import quality, report, similarity, topics, vectorize
from data_extract.pipeline.semantic.types import SemanticAnalysis, SemanticChunk, SemanticOptions

STATISTIC_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)
HISTOGRAM_BINS = 10
_SPACES = re.compile(r"\s+")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(_SPACES.sub(" ", text).strip().casefold().encode("utf-8"), digest_size=16).digest()


def analyze(chunks: list[SemanticChunk], options: SemanticOptions) -> SemanticAnalysis:
    """Run every step over ``chunks`` (in the caller's order, which fixes ties)."""
    started_all = time.perf_counter()
    timings: dict[str, float] = {}
    n = len(chunks)
    ids = [c.chunk_id for c in chunks]

    started = time.perf_counter()
    per_chunk, scores, below = _score_quality(chunks, ids, options)
    timings["semantic_quality"] = _ms(started)

    analysed = np.flatnonzero(~below)
    started = time.perf_counter()
    vectors = _vectorize(chunks, analysed, options)
    timings["semantic_tfidf"] = _ms(started)

    started = time.perf_counter()
    matrix = vectors.matrix
    nonzero = np.flatnonzero(np.diff(matrix.indptr)) if matrix.shape[1] else np.empty(0, dtype=np.int64)
    topic_result = (
        topics.lsa_topics(matrix[nonzero], vectors.terms, options)
        if len(nonzero)
        else topics.TopicResult(0, {}, np.zeros(0, dtype=np.int64), 0, None)
    )
    assignments = np.full(n, -1, dtype=np.int64)
    assignments[analysed[nonzero]] = topic_result.labels
    timings["semantic_lsa"] = _ms(started)
    embedding = _embedding(topic_result, matrix.shape[0], nonzero)

    started = time.perf_counter()
    similarity_block, graph_edges = _similarity(chunks, ids, analysed, matrix, embedding, options)
    timings["semantic_similarity"] = _ms(started)

    clusters = _clusters(chunks, assignments, topic_result)
    processing_ms = _ms(started_all)
    summary: dict[str, Any] = {
        "summary": {
            "total_chunks": n,
            "analysed_chunks": len(nonzero),
            "excluded_low_quality": int(below.sum()),
            "vocabulary_size": int(vectors.vocabulary_size),
            "n_components": int(topic_result.n_components),
            "n_clusters": int(topic_result.n_clusters),
            "cache_hit": False,
            "processing_time_ms": processing_ms,
        },
        "similarity": similarity_block,
        "topics": topic_result.topics,
        "clusters": clusters,
        "quality": _quality_summary(ids, per_chunk, scores, below),
        "config": _config(options, vectors.df_bounds),
    }
    if vectors.note:
        summary["summary"]["note"] = f"No vocabulary: {vectors.note}"
    analysis = SemanticAnalysis(summary=summary, chunk_quality=per_chunk, stage_timings_ms=timings)
    started = time.perf_counter()
    analysis.artifacts = report.render_artifacts(analysis, chunks, graph_edges, options)
    timings["semantic_report"] = _ms(started)
    return analysis


def _embedding(topic_result: topics.TopicResult, n_rows: int, nonzero: np.ndarray) -> np.ndarray | None:
    """LSA vectors per row of the TF-IDF matrix (zero rows: zeros), for the large-corpus candidate search."""
    if topic_result.vectors is None:
        return None
    embedding = np.zeros((n_rows, topic_result.vectors.shape[1]), dtype=np.float32)
    embedding[nonzero] = topic_result.vectors
    return embedding


def _score_quality(
    chunks: list[SemanticChunk], ids: list[str], options: SemanticOptions
) -> tuple[dict[str, dict[str, Any]], np.ndarray, np.ndarray]:
    """Every chunk's quality by id, the scores in chunk order, and which fall under ``min_quality``."""
    scored = quality.chunk_qualities(
        [c.text for c in chunks],
        [tuple(c.extraction_flags) for c in chunks],
        skip_readability=options.skip_readability,
    )
    per_chunk = {c.chunk_id: q for c, q in zip(chunks, scored, strict=True)}
    scores = np.array([per_chunk[i]["quality_score"] for i in ids], dtype=np.float64)
    below = scores < options.min_quality
    for chunk_id, low in zip(ids, below, strict=True):
        per_chunk[chunk_id]["below_min_quality"] = bool(low)
    return per_chunk, scores, below


@dataclass
class _Vectors:
    """The TF-IDF step's outcome: the matrix of the analysed chunks (no columns when there is no vocabulary)."""

    matrix: sparse.csr_matrix
    terms: np.ndarray
    vocabulary_size: int
    df_bounds: tuple[int, float]  # the document-frequency bounds applied
    note: str | None  # why there is no vocabulary


def _vectorize(chunks: list[SemanticChunk], analysed: np.ndarray, options: SemanticOptions) -> _Vectors:
    vectors = _Vectors(
        sparse.csr_matrix((len(analysed), 0), dtype=np.float32),
        np.empty(0, dtype=object),
        0,
        (options.min_df, options.max_df),
        None,
    )
    if len(analysed):
        try:
            result = vectorize.tfidf([chunks[i].text for i in analysed], options)
        except ValueError as exc:  # every analysed chunk is numbers or stop words: no vocabulary
            vectors.note = str(exc)
        else:
            vectors = _Vectors(result.matrix, result.terms, len(result.terms), (result.min_df, result.max_df), None)
    return vectors


def _config(options: SemanticOptions, df_bounds: tuple[int, float]) -> dict[str, Any]:
    """The options the summary reports, under the reference's names."""
    return {
        "tfidf_max_features": options.max_features,
        "tfidf_ngram_range": list(options.ngram_range),
        "tfidf_min_df": df_bounds[0],
        "tfidf_max_df": df_bounds[1],
        "tfidf_sublinear_tf": options.sublinear_tf,
        "tfidf_stop_words": options.stop_words,
        "similarity_threshold": options.duplicate_threshold,
        "related_threshold": options.related_threshold,
        "max_neighbors": options.max_neighbors,
        "lsa_n_components": options.n_components,
        "n_clusters": options.n_clusters,
        "quality_min_score": options.min_quality,
        "skip_readability": options.skip_readability,
        "random_state": options.random_state,
    }


def _similarity(
    chunks: list[SemanticChunk],
    ids: list[str],
    analysed: np.ndarray,
    matrix: sparse.csr_matrix,
    embedding: np.ndarray | None,
    options: SemanticOptions,
) -> tuple[dict[str, Any], list[tuple[str, str, float]]]:
    """The summary's similarity block, and every kept edge (source, target, weight) for the graph export."""
    n = len(chunks)
    related, duplicate = options.related_threshold, options.duplicate_threshold
    search = min(related, duplicate)
    representatives, groups = (
        similarity.unique_rows(matrix)
        if matrix.shape[1]
        else (np.empty(0, np.int64), np.full(len(analysed), -1, np.int64))
    )
    exact_search = len(representatives) <= options.exact_search_limit or embedding is None
    pairs = _representative_pairs(matrix, representatives, None if exact_search else embedding, search, options)
    identical = _IdenticalRows.of(analysed, groups, len(representatives))
    chunk_pairs = _chunk_pairs(pairs, identical, options.max_neighbors)
    count_at_least = _pair_counter(pairs, identical)
    duplicate_groups = _duplicate_groups(chunks, ids, chunk_pairs, identical, duplicate)
    n_duplicates = sum(len(g) - 1 for g in duplicate_groups)
    edges = _neighbour_edges(chunk_pairs, ids, related, options.max_neighbors)
    listed = edges[: options.max_listed_pairs]
    adjacency: dict[str, list[list[Any]]] = {}
    for source, target, weight in listed:
        adjacency.setdefault(source, []).append([target, weight])
        adjacency.setdefault(target, []).append([source, weight])

    statistics = _statistics(matrix, count_at_least, search, options)
    statistics.update(
        {
            "n_similar_pairs": count_at_least(related),
            "n_duplicate_pairs": count_at_least(duplicate),
            "duplicate_rate": round(n_duplicates / n, 6) if n else 0.0,
            "total_pairs": n * (n - 1) // 2,
        }
    )
    return {
        "duplicate_groups": duplicate_groups,
        "similar_pairs": [list(e) for e in listed],
        "similar_pairs_truncated": len(edges) > len(listed),
        "similarity_graph": adjacency,
        "n_duplicates": n_duplicates,
        "search": "exact" if exact_search else "lsa_candidates_exact_verification",
        "statistics": statistics,
    }, edges


def _representative_pairs(
    matrix: sparse.csr_matrix,
    representatives: np.ndarray,
    embedding: np.ndarray | None,
    search: float,
    options: SemanticOptions,
) -> similarity.PairSet:
    """The pairs of distinct rows at or above ``search``: exact, or from ``embedding`` candidates when given."""
    if len(representatives) < 2:
        return similarity.PairSet(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
    if embedding is None:
        return similarity.pairs_above(matrix[representatives], search)
    return similarity.pairs_above_via_embedding(
        matrix[representatives],
        embedding[representatives],
        search,
        candidates_per_row=options.embedding_candidates,
        embedding_floor=search - options.embedding_margin,
    )


@dataclass
class _IdenticalRows:
    """The members of each group of identical rows, as chunk indices in chunk order (group g's members are
    ``members_flat[group_ptr[g]:group_ptr[g + 1]]``)."""

    members_flat: np.ndarray
    group_sizes: np.ndarray
    group_ptr: np.ndarray

    @classmethod
    def of(cls, analysed: np.ndarray, groups: np.ndarray, n_groups: int) -> _IdenticalRows:
        has_row = groups >= 0
        member_order = np.lexsort((analysed[has_row], groups[has_row]))
        group_sizes = np.bincount(groups[has_row], minlength=n_groups)
        return cls(analysed[has_row][member_order], group_sizes, np.concatenate(([0], np.cumsum(group_sizes))))

    def members(self, group: int) -> np.ndarray:
        return self.members_flat[self.group_ptr[group] : self.group_ptr[group + 1]]

    def first_members(self) -> np.ndarray:
        """Each group's first chunk."""
        return self.members_flat[self.group_ptr[:-1]] if len(self.group_sizes) else np.empty(0, np.int64)


def _chunk_pairs(pairs: similarity.PairSet, identical: _IdenticalRows, max_neighbors: int) -> similarity.PairSet:
    """Chunk-level pairs (low, high): between groups (every member of one with every member of the other) and
    inside a group (identical rows, similarity 1; chained to the next ``max_neighbors`` members, not all g^2)."""
    members_flat, group_sizes, group_ptr = identical.members_flat, identical.group_sizes, identical.group_ptr
    chunk_i, chunk_j, chunk_sim = [], [], []
    single = (group_sizes[pairs.i] == 1) & (group_sizes[pairs.j] == 1)
    chunk_i.append(members_flat[group_ptr[pairs.i[single]]])
    chunk_j.append(members_flat[group_ptr[pairs.j[single]]])
    chunk_sim.append(pairs.sim[single])
    for p in np.flatnonzero(~single):
        a, b = identical.members(int(pairs.i[p])), identical.members(int(pairs.j[p]))
        chunk_i.append(np.repeat(a, len(b)))
        chunk_j.append(np.tile(b, len(a)))
        chunk_sim.append(np.full(len(a) * len(b), pairs.sim[p], dtype=np.float32))
    for g in np.flatnonzero(group_sizes > 1):
        m = identical.members(int(g))
        for step in range(1, min(len(m), max_neighbors + 1)):
            chunk_i.append(m[:-step])
            chunk_j.append(m[step:])
            chunk_sim.append(np.ones(len(m) - step, dtype=np.float32))
    ci, cj, cs = np.concatenate(chunk_i), np.concatenate(chunk_j), np.concatenate(chunk_sim)
    low, high = np.minimum(ci, cj), np.maximum(ci, cj)
    return similarity.PairSet(low.astype(np.int64), high.astype(np.int64), cs)


def _pair_counter(pairs: similarity.PairSet, identical: _IdenticalRows) -> Callable[[float], int]:
    """The number of chunk pairs at or above a threshold (at or above the search threshold; before the top-k cap)."""
    rep_weight = (identical.group_sizes[pairs.i] * identical.group_sizes[pairs.j]).astype(np.int64)
    intra = int(sum(int(s) * (int(s) - 1) // 2 for s in identical.group_sizes if s > 1))

    def count_at_least(threshold: float) -> int:
        return int(rep_weight[pairs.sim >= threshold - 1e-6].sum()) + (intra if threshold <= 1.0 else 0)

    return count_at_least


def _duplicate_groups(
    chunks: list[SemanticChunk],
    ids: list[str],
    chunk_pairs: similarity.PairSet,
    identical: _IdenticalRows,
    duplicate: float,
) -> list[list[str]]:
    """Near-duplicate pairs, identical rows and identical texts, as connected components: largest first, each in
    chunk order."""
    n = len(chunks)
    at_duplicate = chunk_pairs.sim >= duplicate - 1e-6
    text_a, text_b = _identical_texts(chunks)
    a = np.concatenate((chunk_pairs.i[at_duplicate], identical.members_flat, text_a))
    b = np.concatenate(
        (chunk_pairs.j[at_duplicate], np.repeat(identical.first_members(), identical.group_sizes), text_b)
    )
    graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, component = connected_components(graph, directed=False)
    component_sizes = np.bincount(component, minlength=n) if n else np.empty(0, np.int64)
    grouped = np.flatnonzero(component_sizes[component] > 1) if n else np.empty(0, np.int64)
    by_component: dict[int, list[int]] = {}
    for index in grouped:  # ascending: each group's members stay in chunk order
        by_component.setdefault(int(component[index]), []).append(int(index))
    ordered = sorted(by_component.values(), key=lambda g: (-len(g), g[0]))
    return [[ids[m] for m in g] for g in ordered]


def _identical_texts(chunks: list[SemanticChunk]) -> tuple[np.ndarray, np.ndarray]:
    """Edges (chunk, first chunk with the same text after case and whitespace folding)."""
    first_with_text: dict[bytes, int] = {}
    text_a, text_b = [], []
    for index, chunk in enumerate(chunks):
        first = first_with_text.setdefault(_text_key(chunk.text), index)
        if first != index:
            text_a.append(index)
            text_b.append(first)
    return np.asarray(text_a, dtype=np.int64), np.asarray(text_b, dtype=np.int64)


def _neighbour_edges(
    chunk_pairs: similarity.PairSet, ids: list[str], related: float, max_neighbors: int
) -> list[tuple[str, str, float]]:
    """Sparse top-k: the related pairs each chunk keeps among its most similar, most similar first."""
    related_mask = chunk_pairs.sim >= related - 1e-6
    related_pairs = similarity.PairSet(
        chunk_pairs.i[related_mask], chunk_pairs.j[related_mask], chunk_pairs.sim[related_mask]
    )
    kept = similarity.top_k_per_node(related_pairs, max_neighbors)
    edges_i, edges_j, edges_sim = related_pairs.i[kept], related_pairs.j[kept], related_pairs.sim[kept]
    order = np.lexsort((edges_j, edges_i, -edges_sim.astype(np.float64)))
    return [(ids[int(edges_i[o])], ids[int(edges_j[o])], round(float(edges_sim[o]), 6)) for o in order]


def _statistics(
    matrix: sparse.csr_matrix, count_at_least: Callable[[float], int], search: float, options: SemanticOptions
) -> dict[str, Any]:
    """Similarity statistics over the pairs of analysed chunks: exact up to ``exact_statistics_limit`` chunks,
    else over a seeded sample (the ``pairs_above_*`` counts at or above the search threshold stay exact)."""
    m = matrix.shape[0]
    total = m * (m - 1) // 2
    if m < 2 or not matrix.shape[1]:
        return {
            "mean": 0.0,
            "std": 0.0,
            "min": 0.0,
            "max": 0.0,
            "median": 0.0,
            "n_samples": 0,
            "sampled": False,
            **{f"pairs_above_{t}": 0 for t in STATISTIC_THRESHOLDS},
        }
    if m <= options.exact_statistics_limit:
        dense = (matrix @ matrix.T).toarray()
        values = np.minimum(dense[np.triu_indices(m, k=1)], 1.0)
        sampled = False
    else:
        values = similarity.sample_similarities(matrix, options.statistics_sample_pairs, options.random_state)
        sampled = True
    stats: dict[str, Any] = {
        "mean": round(float(values.mean()), 6),
        "std": round(float(values.std()), 6),
        "min": round(float(values.min()), 6),
        "max": round(float(values.max()), 6),
        "median": round(float(np.median(values)), 6),
        "n_samples": len(values),
        "sampled": sampled,
    }
    estimated = []
    for t in STATISTIC_THRESHOLDS:
        if t >= search - 1e-9:
            stats[f"pairs_above_{t}"] = count_at_least(t)
        elif not sampled:
            stats[f"pairs_above_{t}"] = int((values >= t - 1e-6).sum())
        else:
            stats[f"pairs_above_{t}"] = round(float((values >= t - 1e-6).mean()) * total)
            estimated.append(f"pairs_above_{t}")
    if estimated:
        stats["estimated"] = estimated
    return stats


def _clusters(chunks: list[SemanticChunk], assignments: np.ndarray, result: topics.TopicResult) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    for cluster in range(result.n_clusters if result.n_components else 0):
        member_idx = np.flatnonzero(assignments == cluster)
        if not len(member_idx):
            continue
        details.append(
            {
                "cluster_id": int(cluster),
                "size": len(member_idx),
                "top_terms": result.cluster_terms.get(cluster, []),
                "sample_chunk_ids": [chunks[i].chunk_id for i in member_idx[:3]],
                "source_files": sorted({chunks[i].source_file for i in member_idx})[:20],
            }
        )
    details.sort(key=lambda d: (-d["size"], d["cluster_id"]))
    return {
        "assignments": [int(a) for a in assignments],
        "chunk_ids": [c.chunk_id for c in chunks],
        "silhouette_score": result.silhouette,
        "details": details,
    }


def _quality_summary(
    ids: list[str], per_chunk: dict[str, dict[str, Any]], scores: np.ndarray, below: np.ndarray
) -> dict[str, Any]:
    distribution = {"high": 0, "medium": 0, "low": 0, "review": 0}
    for chunk_id in ids:
        distribution[per_chunk[chunk_id]["quality_flag"]] += 1
    counts, edges = (
        np.histogram(scores, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        if len(scores)
        else (np.zeros(HISTOGRAM_BINS, dtype=np.int64), np.linspace(0, 1, HISTOGRAM_BINS + 1))
    )
    return {
        "distribution": distribution,
        "mean_score": round(float(scores.mean()), 4) if len(scores) else 0.0,
        "below_min_quality": int(below.sum()),
        "histogram": {"bin_edges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts]},
    }
