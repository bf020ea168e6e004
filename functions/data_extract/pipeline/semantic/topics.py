"""LSA topics (TruncatedSVD) and clusters (k-means on the normalised LSA vectors) with a silhouette score."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from data_extract.pipeline.semantic.types import SemanticOptions

TOP_TERMS = 10
# From this many chunks k-means runs one k-means++ initialisation instead of the reference's ten (scikit-learn's
# own default for k-means++): ten cost minutes at 100,000 chunks for a gain of a few per cent in inertia.
SINGLE_INIT_FROM = 1_000


@dataclass
class TopicResult:
    n_components: int
    topics: dict[str, list[str]]
    labels: np.ndarray  # cluster per analysed row
    n_clusters: int
    silhouette: float | None
    cluster_terms: dict[int, list[str]] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # L2-normalised LSA vector of each row


def adapted_components(n_docs: int, n_features: int, configured: int) -> int:
    """The reference's rule: fewer components for small corpora, never more than n - 1 or features - 1."""
    if n_docs < 50:
        wanted = max(int(0.3 * n_docs), 5)
    elif n_docs < 100:
        wanted = int(0.5 * n_docs)
    else:
        wanted = configured
    return max(1, min(wanted, configured, n_docs - 1, n_features - 1))


def cluster_count(n_docs: int, configured: int | None) -> int:
    k = configured if configured is not None else max(2, int(math.sqrt(n_docs / 2)))
    return max(1, min(k, n_docs))


def lsa_topics(matrix: sparse.csr_matrix, terms: np.ndarray, options: SemanticOptions) -> TopicResult:
    n_docs, n_features = matrix.shape
    if n_docs < 2 or n_features < 2:
        return TopicResult(0, {}, np.zeros(n_docs, dtype=np.int64), 1 if n_docs else 0, None)
    n_components = adapted_components(n_docs, n_features, options.n_components)
    svd = TruncatedSVD(
        n_components=n_components,
        algorithm="arpack" if n_docs < 1000 else "randomized",
        n_iter=7,
        random_state=options.random_state,
    )
    vectors = normalize(svd.fit_transform(matrix).astype(np.float32))
    components = svd.components_
    topics = {}
    for index, component in enumerate(components):
        top = np.argsort(-np.abs(component), kind="stable")[:TOP_TERMS]
        topics[str(index)] = [str(terms[t]) for t in top]

    k = cluster_count(n_docs, options.n_clusters)
    if k < 2:
        return TopicResult(n_components, topics, np.zeros(n_docs, dtype=np.int64), 1, None, vectors=vectors)
    n_init = 1 if n_docs < 100 or n_docs >= SINGLE_INIT_FROM else 10
    kmeans = KMeans(n_clusters=k, n_init=n_init, max_iter=300, random_state=options.random_state)
    labels = kmeans.fit_predict(vectors).astype(np.int64)
    distinct = len(np.unique(labels))
    silhouette = None
    if 2 <= distinct < n_docs:
        sample = min(n_docs, options.silhouette_sample_size)
        silhouette = round(
            float(
                silhouette_score(
                    vectors,
                    labels,
                    sample_size=sample if sample < n_docs else None,
                    random_state=options.random_state,
                )
            ),
            4,
        )
    # A cluster's terms: its centroid mapped back from LSA space onto the vocabulary.
    centroid_terms = kmeans.cluster_centers_ @ components
    cluster_terms = {
        c: [str(terms[t]) for t in np.argsort(-centroid_terms[c], kind="stable")[:TOP_TERMS]] for c in range(k)
    }
    return TopicResult(n_components, topics, labels, k, silhouette, cluster_terms, vectors)
