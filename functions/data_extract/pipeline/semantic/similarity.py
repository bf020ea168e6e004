"""All pairs of chunks at or above a cosine threshold, without an n x n matrix.

The rows are L2-normalised TF-IDF vectors, so cosine similarity is a dot product. A dense n x n matrix (the
reference's approach) needs 40 GB at 100,000 chunks; a plain sparse product X @ X.T costs the sum over terms of
df(t)^2, dominated by the common terms. Instead this uses prefix filtering (Bayardo et al., "Scaling up all
pairs similarity search", WWW 2007):

Order the terms by document frequency, most common first. Split each row x into a suffix S(x) (its most common
terms, as many as keep ||S(x)|| < t) and a prefix P(x) (the rest: its rarer terms). If x and y share no term of
P(x), then x.y = S(x).y <= ||S(x)|| ||y|| < t. So every pair with x.y >= t shares a term of P(x): the candidates
of row x are the non-zeros of P(x) @ X.T, a product over the rare terms only, computed in blocks of rows.
A candidate whose prefix part plus the bound ||S(x)|| stays under t is dropped; the rest get their exact dot
product. Nothing is approximated: the result is the set of pairs a dense computation would find (a test
compares both), in time that grows with the number of related pairs rather than with n^2.

Prefix filtering prunes well while the kept vocabulary has rare terms; with a capped vocabulary (5,000 terms) over
a very large corpus every kept term is common and the candidate lists grow like n^2 again. Above
``exact_search_limit`` chunks the stage therefore takes its candidates from the LSA embedding instead
(``pairs_above_via_embedding``: each chunk's nearest neighbours there, verified with their exact TF-IDF cosine):
values stay exact, recall is measured by the benchmark.

Identical rows (the same text twice, e.g. one file uploaded under two names) are collapsed before the search
and expanded afterwards, so a corpus full of repeated boilerplate does not make the candidate lists quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

BLOCK_ROWS = 1024
# Tiles of the embedding search's upper-triangle product (8 MiB of float32: thresholded while still in cache).
EMBEDDING_TILE_ROWS = 256
EMBEDDING_TILE_COLUMNS = 8192
# Candidate pairs verified per batch (bounds the memory of the gathered rows).
VERIFY_BATCH = 200_000
# Floating-point slack: a pair exactly at the threshold must not be lost to rounding in the bound.
_EPS = 1e-6


@dataclass
class PairSet:
    """Pairs (i < j) of row indices with their cosine similarity, sorted by (i, j)."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    sim: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.i)


def unique_rows(matrix: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(representative row of each distinct non-zero row, group id of every row (-1 for all-zero rows))."""
    n = matrix.shape[0]
    groups = np.full(n, -1, dtype=np.int64)
    seen: dict[bytes, int] = {}
    representatives: list[int] = []
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for row in range(n):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        key = indices[start:end].tobytes() + data[start:end].tobytes()
        group = seen.get(key)
        if group is None:
            group = seen[key] = len(representatives)
            representatives.append(row)
        groups[row] = group
    return np.asarray(representatives, dtype=np.int64), groups


def pairs_above(matrix: sparse.csr_matrix, threshold: float) -> PairSet:
    """Every pair (i < j) of rows with dot product >= ``threshold`` (rows L2-normalised, none all-zero)."""
    n = matrix.shape[0]
    if n < 2:
        return _empty_pairs()
    threshold = float(threshold)
    if threshold <= 0.0:
        return _all_pairs(matrix)
    index = _PrefixIndex.of(matrix, threshold)
    found_i, found_j, found_sim = [], [], []
    for start in range(0, n, BLOCK_ROWS):
        found = index.pairs_of_rows(start, min(n, start + BLOCK_ROWS), threshold)
        if found is not None:
            found_i.append(found[0])
            found_j.append(found[1])
            found_sim.append(found[2])
    if not found_i:
        return _empty_pairs()
    result = PairSet(np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_sim))
    order = np.lexsort((result.j, result.i))
    return PairSet(result.i[order], result.j[order], result.sim[order])


def _empty_pairs() -> PairSet:
    return PairSet(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))


@dataclass
class _PrefixIndex:
    """The rows split into prefix and suffix for one threshold (see the module docstring), columns ranked most
    frequent first so that within each (sorted) row the suffix comes first."""

    x: sparse.csr_matrix  # the rows, columns ranked
    x_t: sparse.csr_matrix
    prefix: sparse.csr_matrix  # each row's rarer terms
    suffix: sparse.csr_matrix  # each row's commonest terms, norm under the threshold
    suffix_norm: np.ndarray
    cumulative: np.ndarray  # per entry of x: ||its row's suffix up to and including it||^2
    keys: np.ndarray  # per entry of x: row * n_terms + rank, row-major
    boundary: np.ndarray  # per row: the rank where its prefix starts
    n_terms: np.int64

    @classmethod
    def of(cls, matrix: sparse.csr_matrix, threshold: float) -> _PrefixIndex:
        n = matrix.shape[0]
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        order = np.argsort(-df, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        # Fresh arrays throughout: sort_indices and eliminate_zeros work in place, and shared arrays would corrupt
        # the caller's matrix (and x).
        x = sparse.csr_matrix((matrix.data.copy(), rank[matrix.indices], matrix.indptr.copy()), shape=matrix.shape)
        x.sort_indices()
        squares = x.data.astype(np.float64) ** 2
        row_of_entry = np.repeat(np.arange(n), np.diff(x.indptr))
        running = np.cumsum(squares)
        row_start = np.concatenate(([0.0], running))[x.indptr[:-1]]
        cumulative = running - row_start[row_of_entry]
        in_suffix = cumulative < (threshold * threshold) * (1.0 - _EPS)
        suffix_norm_sq = np.zeros(n)
        np.maximum.at(suffix_norm_sq, row_of_entry[in_suffix], cumulative[in_suffix])
        prefix = sparse.csr_matrix(
            (np.where(in_suffix, 0.0, x.data).astype(np.float32), x.indices.copy(), x.indptr.copy()), shape=x.shape
        )
        prefix.eliminate_zeros()
        suffix = sparse.csr_matrix(
            (np.where(in_suffix, x.data, 0.0).astype(np.float32), x.indices.copy(), x.indptr.copy()), shape=x.shape
        )
        suffix.eliminate_zeros()
        n_terms = np.int64(x.shape[1])
        boundary = np.full(n, n_terms, dtype=np.int64)
        first_prefix = np.flatnonzero(~in_suffix)
        np.minimum.at(boundary, row_of_entry[first_prefix], x.indices[first_prefix].astype(np.int64))
        keys = row_of_entry.astype(np.int64) * n_terms + x.indices
        return cls(x, x.T.tocsr(), prefix, suffix, np.sqrt(suffix_norm_sq), cumulative, keys, boundary, n_terms)

    def pairs_of_rows(
        self, start: int, stop: int, threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(i, j, similarity) of the pairs i < j at or above ``threshold`` with i in rows start..stop-1."""
        x, suffix_norm = self.x, self.suffix_norm
        partial = (self.prefix[start:stop] @ self.x_t).tocoo()
        rows = partial.row.astype(np.int64) + start
        cols = partial.col.astype(np.int64)
        values = partial.data
        keep = (cols > rows) & (values + suffix_norm[rows] >= threshold - _EPS)
        rows, cols, values = rows[keep], cols[keep], values[keep]
        # Tighter: S(x).y <= ||S(x)|| * ||y on the terms more common than x's prefix||, looked up by binary search
        # in the row-major (row, rank) keys of x's entries.
        position = np.searchsorted(self.keys, cols * self.n_terms + self.boundary[rows], side="left")
        mass = np.where(position > x.indptr[cols], self.cumulative[np.maximum(position - 1, 0)], 0.0)
        keep = values + suffix_norm[rows] * np.sqrt(np.maximum(mass, 0.0)) >= threshold - _EPS
        rows, cols, values = rows[keep], cols[keep], values[keep]
        if not len(rows):
            return None
        exact = values.astype(np.float64)
        todo = np.flatnonzero(suffix_norm[rows] > 0)
        for batch in range(0, len(todo), VERIFY_BATCH):
            sel = todo[batch : batch + VERIFY_BATCH]
            exact[sel] += np.asarray(self.suffix[rows[sel]].multiply(x[cols[sel]]).sum(axis=1)).ravel()
        hit = exact >= threshold - _EPS
        return rows[hit], cols[hit], np.minimum(exact[hit], 1.0).astype(np.float32)


def _all_pairs(matrix: sparse.csr_matrix) -> PairSet:
    """Every pair with a positive similarity (threshold 0 asks for all of them)."""
    found_i, found_j, found_sim = [], [], []
    n = matrix.shape[0]
    x_t = matrix.T.tocsr()
    for start in range(0, n, BLOCK_ROWS):
        block = (matrix[start : start + BLOCK_ROWS] @ x_t).tocoo()
        rows = block.row.astype(np.int64) + start
        keep = block.col > rows
        found_i.append(rows[keep])
        found_j.append(block.col[keep].astype(np.int64))
        found_sim.append(np.minimum(block.data[keep], 1.0).astype(np.float32))
    result = PairSet(np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_sim))
    order = np.lexsort((result.j, result.i))
    return PairSet(result.i[order], result.j[order], result.sim[order])


def dense_pairs_above(matrix: sparse.csr_matrix, threshold: float) -> PairSet:
    """The same pairs from a dense n x n product: the exact reference for small n (tests and statistics)."""
    sims = (matrix @ matrix.T).toarray()
    i, j = np.triu_indices(matrix.shape[0], k=1)
    values = sims[i, j]
    keep = values >= threshold - _EPS
    return PairSet(
        i[keep].astype(np.int64), j[keep].astype(np.int64), np.minimum(values[keep], 1.0).astype(np.float32)
    )


def top_k_per_node(pairs: PairSet, k: int) -> np.ndarray:
    """Mask of the pairs kept when each node keeps its ``k`` most similar neighbours (a pair stays if either end
    keeps it). Ties break by the neighbour's index, so the result is deterministic."""
    m = len(pairs)
    if m == 0 or k <= 0:
        return np.zeros(m, dtype=bool)
    nodes = np.concatenate((pairs.i, pairs.j))
    others = np.concatenate((pairs.j, pairs.i))
    sims = np.concatenate((pairs.sim, pairs.sim))
    pair_index = np.concatenate((np.arange(m), np.arange(m)))
    order = np.lexsort((others, -sims.astype(np.float64), nodes))
    nodes_sorted = nodes[order]
    starts = np.searchsorted(nodes_sorted, nodes_sorted, side="left")
    rank = np.arange(len(order)) - starts
    kept = np.zeros(m, dtype=bool)
    kept[pair_index[order][rank < k]] = True
    return kept


def sample_similarities(matrix: sparse.csr_matrix, n_pairs: int, seed: int) -> np.ndarray:
    """Similarities of ``n_pairs`` uniformly drawn pairs (i != j), for statistics over a large corpus."""
    n = matrix.shape[0]
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=n_pairs)
    j = rng.integers(0, n - 1, size=n_pairs)
    j = np.where(j >= i, j + 1, j)
    return exact_dots(matrix, i, j)


def exact_dots(matrix: sparse.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dot products of the row pairs (i[k], j[k]), in batches that bound the gathered rows' memory."""
    out = np.empty(len(i), dtype=np.float64)
    for start in range(0, len(i), VERIFY_BATCH):
        stop = min(len(i), start + VERIFY_BATCH)
        out[start:stop] = np.asarray(matrix[i[start:stop]].multiply(matrix[j[start:stop]]).sum(axis=1)).ravel()
    return np.minimum(out, 1.0)


def pairs_above_via_embedding(
    matrix: sparse.csr_matrix,
    embedding: np.ndarray,
    threshold: float,
    *,
    candidates_per_row: int,
    embedding_floor: float,
) -> PairSet:
    """Pairs with TF-IDF cosine >= ``threshold``, searching candidates in a dense embedding (the LSA vectors).

    For corpora too large for the exact search: each row's candidates are its ``candidates_per_row`` nearest rows
    by embedding cosine among those at or above ``embedding_floor`` (ties to the lower row index); every candidate
    is then verified with its exact TF-IDF cosine, so no reported pair or value is approximate, only the recall is
    (measured against the exact search in tests/benchmarks/semantic_bench.py).

    The embedding cosines are symmetric, so only the upper triangle is computed, in tiles of
    ``EMBEDDING_TILE_ROWS`` x ``EMBEDDING_TILE_COLUMNS`` (small enough to stay in cache while they are thresholded;
    never n x n). Each entry at or above the floor serves both of its rows: it is recorded once per direction as
    one packed integer (row, rank of its value, other row), and a single sort of those integers orders every row's
    neighbours best first, so each row's first ``candidates_per_row`` are its nearest. This is the same candidate
    set as ranking every full row of the n x n product, for half the products and one sort instead of one per row.
    """
    n = matrix.shape[0]
    k = min(candidates_per_row, n - 1)
    if n < 2 or k <= 0:
        return _empty_pairs()
    emb = np.ascontiguousarray(embedding, dtype=np.float32)
    packing = _Packing.for_rows(n)
    keys = []
    for start in range(0, n, EMBEDDING_TILE_ROWS):
        # A row's entries towards later rows all come from this band of tiles, and a later row's entries from
        # this band are a subset of its entries: keeping the best k of each here loses none of the final best k
        # and bounds the memory (about k per row plus the later rows' entries from this band).
        for part in _band_keys(emb, start, min(n, start + EMBEDDING_TILE_ROWS), embedding_floor, packing):
            if part:
                band = np.concatenate(part)
                band.sort()
                keys.append(_first_k_per_node(band, packing.node_shift, k))
    if not keys:
        return _empty_pairs()
    ordered = np.concatenate(keys)
    del keys
    ordered.sort()
    low, high = _distinct_pairs(_first_k_per_node(ordered, packing.node_shift, k), packing, n)
    sims = exact_dots(matrix, low, high)
    hit = sims >= threshold - _EPS
    return PairSet(low[hit], high[hit], sims[hit].astype(np.float32))


@dataclass(frozen=True)
class _Packing:
    """How one embedding entry packs into an int64: (row, rank of its value, other row), so that sorting the
    integers orders each row's neighbours best first."""

    node_bits: int
    node_shift: int
    value_scale: float

    @classmethod
    def for_rows(cls, n: int) -> _Packing:
        node_bits = max(1, (n - 1).bit_length())
        # The value's rank takes the bits left between the two row indices (28 at 100,000 rows): cosines closer
        # than 2^-27 share a rank and fall back to the other row's index, like exact ties.
        value_bits = 62 - 2 * node_bits
        if value_bits < 12:
            raise ValueError(f"too many rows for the embedding search: {n:,}")
        return cls(node_bits, value_bits + node_bits, float((1 << value_bits) - 1) / 2.0)


def _band_keys(
    emb: np.ndarray, start: int, stop: int, embedding_floor: float, packing: _Packing
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The packed keys of the entries at or above the floor between rows start..stop-1 and every later row, in
    tiles of the upper triangle: (towards the later rows, from the later rows)."""
    n = len(emb)
    node_shift, node_bits = packing.node_shift, packing.node_bits
    row_vectors = emb[start:stop]
    forward: list[np.ndarray] = []
    backward: list[np.ndarray] = []
    for column_start in range(start, n, EMBEDDING_TILE_COLUMNS):
        column_stop = min(n, column_start + EMBEDDING_TILE_COLUMNS)
        tile = row_vectors @ emb[column_start:column_stop].T
        # Flat positions: numpy's two-dimensional nonzero is ten times slower on a mostly empty mask.
        flat = np.flatnonzero(tile >= embedding_floor)
        values = tile.ravel()[flat]
        width = column_stop - column_start
        r = flat // width + start
        c = flat % width + column_start
        if column_start < stop:  # the tile crosses the diagonal: only the pairs r < c
            upper = c > r
            r, c, values = r[upper], c[upper], values[upper]
        if not len(r):
            continue
        # Best first: rank 0 for cosine 1, growing as the cosine falls.
        value_rank = np.rint((1.0 - np.clip(values.astype(np.float64), -1.0, 1.0)) * packing.value_scale).astype(
            np.int64
        )
        forward.append((r << node_shift) | (value_rank << node_bits) | c)
        backward.append((c << node_shift) | (value_rank << node_bits) | r)
    return forward, backward


def _distinct_pairs(ordered: np.ndarray, packing: _Packing, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (low, high) row pairs of the packed keys, sorted."""
    node = ordered >> packing.node_shift
    other = ordered & ((1 << packing.node_bits) - 1)
    del ordered
    low, high = np.minimum(node, other), np.maximum(node, other)
    pair_keys = low * n + high
    pair_keys.sort()  # distinct by sort and compare: np.unique's hashing is several times slower here
    distinct = np.empty(len(pair_keys), dtype=bool)
    distinct[:1] = True
    np.not_equal(pair_keys[1:], pair_keys[:-1], out=distinct[1:])
    pair_keys = pair_keys[distinct]
    return pair_keys // n, pair_keys % n


def _first_k_per_node(sorted_keys: np.ndarray, node_shift: int, k: int) -> np.ndarray:
    """The first ``k`` keys of each node in packed keys sorted ascending (node in the bits from ``node_shift``)."""
    if not len(sorted_keys):
        return sorted_keys
    node = sorted_keys >> node_shift
    first = np.empty(len(node), dtype=bool)
    first[0] = True
    np.not_equal(node[1:], node[:-1], out=first[1:])
    del node
    starts = np.flatnonzero(first)
    del first
    counts = np.diff(np.append(starts, len(sorted_keys)))
    taken = np.minimum(counts, k)
    taken_before = np.cumsum(taken) - taken
    index = np.repeat(starts - taken_before, taken) + np.arange(int(taken.sum()), dtype=np.int64)
    return sorted_keys[index]
