"""TF-IDF over the analysed chunks (scikit-learn's TfidfVectorizer, float32, L2-normalised rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from data_extract.pipeline.semantic.types import SemanticOptions

# Words of two or more letters: numbers (table cells, amounts, page numbers) would otherwise fill the topics.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # noqa: S105 - a regular expression, not a secret


@dataclass
class TfidfResult:
    matrix: sparse.csr_matrix  # n x vocabulary, rows L2-normalised (all-zero for chunks without any kept term)
    terms: np.ndarray  # vocabulary, column order
    min_df: int  # the document-frequency bounds actually applied (small corpora relax them, see below)
    max_df: float


def effective_df_bounds(n_docs: int, min_df: int, max_df: float) -> tuple[int, float]:
    """min_df/max_df that a corpus of ``n_docs`` chunks can satisfy together.

    A term must appear in at least ``min_df`` chunks and in at most ``max_df * n_docs``. When a corpus is so small
    that no count satisfies both (``max_df * n < min_df``: two chunks with min_df 2 and max_df 0.95), min_df
    drops to what max_df allows, so a small job still gets a vocabulary instead of an error.
    """
    ceiling = max(1, int(max_df * n_docs)) if max_df < 1.0 else n_docs
    return max(1, min(min_df, ceiling)), max_df


def tfidf(texts: list[str], options: SemanticOptions) -> TfidfResult:
    """Raises ValueError when no term survives (every chunk is numbers or stop words)."""
    min_df, max_df = effective_df_bounds(len(texts), options.min_df, options.max_df)
    vectorizer = TfidfVectorizer(
        max_features=options.max_features,
        ngram_range=options.ngram_range,
        min_df=min_df,
        max_df=max_df,
        sublinear_tf=options.sublinear_tf,
        stop_words=options.stop_words,
        lowercase=True,
        strip_accents="unicode",
        token_pattern=TOKEN_PATTERN,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        dtype=np.float32,
    )
    matrix = vectorizer.fit_transform(texts).tocsr()
    matrix.sort_indices()
    return TfidfResult(matrix, vectorizer.get_feature_names_out(), min_df, max_df)
