"""Inputs and options of the corpus semantic stage (plain data; no numerical library needed to build them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REPORT_FORMATS = ("json", "csv", "html")
GRAPH_FORMATS = ("json", "csv", "dot")


@dataclass(frozen=True)
class SemanticChunk:
    """One chunk of a run, as the worker recorded it."""

    chunk_id: str
    text: str
    source_file: str
    position_index: int = 0
    # The extraction quality flags the worker gave the chunk (``gibberish``, ``symbol_heavy``, ...).
    extraction_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SemanticOptions:
    """Every tunable of the stage. Defaults are the service's defaults (presets.DEFAULT_CONFIG)."""

    max_features: int = 5000
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 2
    max_df: float = 0.95
    sublinear_tf: bool = True
    stop_words: str | None = "english"  # "english" or None (keep every word)
    duplicate_threshold: float = 0.95
    related_threshold: float = 0.7
    n_components: int = 100
    n_clusters: int | None = None  # None: max(2, int(sqrt(n / 2))) as in the reference
    min_quality: float = 0.3
    skip_readability: bool = False
    # Sparse top-k: each chunk keeps at most this many related neighbours in similar_pairs and the graph
    # (duplicate groups always use every pair at or above the duplicate threshold).
    max_neighbors: int = 20
    # Up to this many distinct chunks the pair search is exact (prefix filtering); above, candidates come from the
    # LSA embedding (each chunk's embedding_candidates nearest chunks down to the threshold minus
    # embedding_margin there), verified with their exact TF-IDF cosine.
    exact_search_limit: int = 20_000
    embedding_candidates: int = 40
    embedding_margin: float = 0.1
    # similar_pairs listed in the summary (the graph export has them all).
    max_listed_pairs: int = 10_000
    # Up to this many chunks the similarity statistics are computed over every pair; above, over a seeded sample.
    exact_statistics_limit: int = 3000
    statistics_sample_pairs: int = 200_000
    silhouette_sample_size: int = 3000
    random_state: int = 42
    report: bool = True
    report_format: str = "json"
    export_graph: bool = True
    graph_format: str = "json"

    def __post_init__(self) -> None:
        if self.report_format not in REPORT_FORMATS:
            raise ValueError(f"report_format must be one of {', '.join(REPORT_FORMATS)}")
        if self.graph_format not in GRAPH_FORMATS:
            raise ValueError(f"graph_format must be one of {', '.join(GRAPH_FORMATS)}")
        if self.stop_words not in (None, "english"):
            raise ValueError("stop_words must be 'english' or None")

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> SemanticOptions:
        """The options of a job's resolved run configuration (jobs/submit.py's ``run_config``).

        ``semantic_report`` and ``semantic_export_graph`` default to ``include_semantic`` (true here, since
        the stage runs), their formats to json, as in the reference.
        """
        tfidf = run_config["tfidf"]
        report = run_config.get("semantic_report")
        graph = run_config.get("semantic_export_graph")
        return cls(
            max_features=int(tfidf["max_features"]),
            ngram_range=(int(tfidf["ngram_range"][0]), int(tfidf["ngram_range"][1])),
            min_df=int(tfidf["min_df"]),
            max_df=float(tfidf["max_df"]),
            sublinear_tf=bool(tfidf.get("sublinear_tf", True)),
            stop_words=tfidf.get("stop_words", "english"),
            duplicate_threshold=float(run_config["duplicate_threshold"]),
            related_threshold=float(run_config["related_threshold"]),
            n_components=int(run_config["n_components"]),
            n_clusters=None if run_config.get("n_clusters") is None else int(run_config["n_clusters"]),
            min_quality=float(run_config["min_quality"]),
            skip_readability=bool(run_config.get("skip_readability", False)),
            report=True if report is None else bool(report),
            report_format=run_config.get("semantic_report_format") or "json",
            export_graph=True if graph is None else bool(graph),
            graph_format=run_config.get("semantic_graph_format") or "json",
        )


@dataclass
class SemanticArtifact:
    """One file the stage produced: a name under the job's ``semantic/`` folder, its bytes and kind."""

    name: str
    title: str  # "Semantic Summary" | "Semantic Report" | "Similarity Graph"
    artifact_type: str  # summary | report | graph
    format: str
    data: bytes
    content_type: str


@dataclass
class SemanticAnalysis:
    """What ``analyze`` returns: the summary document, per-chunk quality, artifacts and step timings."""

    summary: dict[str, Any]
    # chunk_id -> {"quality_score", "quality_flag", "below_min_quality", "readability", ...}
    chunk_quality: dict[str, dict[str, Any]]
    artifacts: list[SemanticArtifact] = field(default_factory=list)
    stage_timings_ms: dict[str, float] = field(default_factory=dict)
