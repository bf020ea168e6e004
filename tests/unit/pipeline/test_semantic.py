"""The pure semantic stage: exact sparse search, near-duplicates, topics, clusters, quality, artifacts,
determinism."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from data_extract.pipeline.semantic import similarity, vectorize
from data_extract.pipeline.semantic.analyze import analyze
from data_extract.pipeline.semantic.quality import chunk_quality
from data_extract.pipeline.semantic.types import SemanticChunk, SemanticOptions
from tests.support.semantic_corpus import corpus_chunks, synthetic_chunks


def _pairs(pair_set) -> dict[tuple[int, int], float]:
    return {(int(i), int(j)): float(s) for i, j, s in zip(pair_set.i, pair_set.j, pair_set.sim, strict=True)}


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.7, 0.95])
def test_given_corpus_chunks_when_searching_pairs_then_the_sparse_search_equals_the_dense_product(corpus, threshold):
    chunks = synthetic_chunks(corpus, 1500, seed=3) + list(corpus_chunks(corpus))[:300]
    matrix = vectorize.tfidf([c.text for c in chunks], SemanticOptions()).matrix
    matrix = matrix[np.flatnonzero(np.diff(matrix.indptr))]
    before = matrix.copy()

    sparse_pairs = _pairs(similarity.pairs_above(matrix, threshold))
    dense_pairs = _pairs(similarity.dense_pairs_above(matrix, threshold))

    assert sparse_pairs.keys() == dense_pairs.keys()
    assert len(dense_pairs) > 0
    assert max(abs(sparse_pairs[k] - dense_pairs[k]) for k in dense_pairs) < 1e-5
    assert (matrix != before).nnz == 0  # the search never changes its input


def test_given_the_embedding_search_when_compared_with_the_exact_one_then_it_finds_the_same_duplicates(corpus):
    from data_extract.pipeline.semantic import topics

    chunks = _planted(corpus)[0]
    options = SemanticOptions()
    matrix = vectorize.tfidf([c.text for c in chunks], options).matrix
    result = topics.lsa_topics(matrix, np.arange(matrix.shape[1]).astype(str), options)

    exact = _pairs(similarity.pairs_above(matrix, 0.8))
    found = _pairs(
        similarity.pairs_above_via_embedding(matrix, result.vectors, 0.8, candidates_per_row=40, embedding_floor=0.7)
    )

    assert found.keys() <= exact.keys()  # verified exactly: never a false pair
    assert len(found.keys() & exact.keys()) >= 0.95 * len(exact)
    assert all(abs(found[k] - exact[k]) < 1e-5 for k in found)


def test_given_pairs_when_each_node_keeps_its_top_k_then_the_strongest_neighbours_stay():
    pairs = similarity.PairSet(
        np.array([0, 0, 0, 1]), np.array([1, 2, 3, 2]), np.array([0.9, 0.8, 0.75, 0.95], dtype=np.float32)
    )

    kept = similarity.top_k_per_node(pairs, 1)

    # 0 keeps (0,1); 1 keeps (1,2); 2 keeps (1,2); 3 keeps (0,3): its only neighbour.
    assert kept.tolist() == [True, False, True, True]


# ---------------------------------------------------------------- near-duplicate quality


def _edit(text: str, rng: random.Random, kind: str, extra: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text)
    if kind == "light_edits":
        words = text.split()
        for _ in range(max(1, len(words) // 40)):
            position = rng.randrange(len(words))
            words[position] = words[position].upper() if rng.random() < 0.5 else words[position] + ","
        return " ".join(words)
    if kind == "reordered":
        if len(sentences) > 2:
            a, b = rng.sample(range(len(sentences)), 2)
            sentences[a], sentences[b] = sentences[b], sentences[a]
        return " ".join(sentences)
    if kind == "whitespace":
        return re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " \t "]), text)
    return text + "\n\n" + extra  # a paragraph added


def _planted(corpus):
    """Distinct corpus chunks with near-duplicates planted among them; returns (chunks, true pairs by id)."""
    rng = random.Random(11)
    real = [c for c in corpus_chunks(corpus) if len(c.text.split()) >= 120]
    candidates = list({c.text: c for c in real}.values())[:500]
    # Really distinct: drop corpus chunks that already have a near-duplicate in the corpus (repeated boilerplate),
    # so that any pair besides (original, planted copy) is a false positive.
    matrix = vectorize.tfidf([c.text for c in candidates], SemanticOptions()).matrix
    close = similarity.dense_pairs_above(matrix, 0.5)
    crowded = set(close.i.tolist()) | set(close.j.tolist())
    distinct = [c for index, c in enumerate(candidates) if index not in crowded][:400]
    pool = synthetic_chunks(corpus, 200, seed=5)
    chunks = list(distinct)
    truth = set()
    kinds = ("light_edits", "reordered", "whitespace", "paragraph_added")
    for number, original in enumerate(rng.sample(distinct, 80)):
        kind = kinds[number % len(kinds)]
        extra = " ".join(pool[number].text.split()[:25])
        copy_ = SemanticChunk(f"near_{number:03d}_{kind}", _edit(original.text, rng, kind, extra), "planted.txt")
        chunks.append(copy_)
        truth.add(frozenset((original.chunk_id, copy_.chunk_id)))
    rng.shuffle(chunks)
    return chunks, truth


@pytest.mark.corpus
def test_given_planted_near_duplicates_when_analysed_then_precision_and_recall_meet_the_bar(corpus):
    chunks, truth = _planted(corpus)

    analysis = analyze(chunks, SemanticOptions(min_quality=0.0))

    found = set()
    for group in analysis.summary["similarity"]["duplicate_groups"]:
        found |= {frozenset((a, b)) for a in group for b in group if a < b}
    true_positive = len(found & truth)
    precision = true_positive / len(found) if found else 0.0
    recall = true_positive / len(truth)
    assert len(truth) == 80
    assert precision >= 0.95, (precision, sorted(tuple(p) for p in found - truth)[:5])
    assert recall >= 0.9, (recall, [tuple(p) for p in truth - found][:5])


def test_given_a_file_uploaded_twice_when_analysed_then_its_chunks_always_group_with_their_twins():
    text = "Quarterly numbers: 1200 4500 7800 9100"  # no vocabulary at all: only the identical text can tell
    prose = "The treasury team reconciled every bank account at month end and reported the differences."
    chunks = [
        SemanticChunk("a1", text, "a.txt"),
        SemanticChunk("a2", prose, "a.txt"),
        SemanticChunk("b1", text, "copy/a.txt"),
        SemanticChunk("b2", prose, "copy/a.txt"),
        SemanticChunk("c1", "Completely different words about football grounds and seasons.", "c.txt"),
    ]

    groups = analyze(chunks, SemanticOptions(min_quality=0.9)).summary["similarity"]["duplicate_groups"]

    assert sorted(map(sorted, groups)) == [["a1", "b1"], ["a2", "b2"]]


# ---------------------------------------------------------------- topics, clusters, options


def test_given_corpus_chunks_when_analysed_then_topics_clusters_and_statistics_are_filled(corpus):
    chunks = list(corpus_chunks(corpus))

    summary = analyze(chunks, SemanticOptions()).summary

    assert summary["summary"]["n_components"] == 100 and len(summary["topics"]) == 100
    assert all(len(terms) == 10 for terms in summary["topics"].values())
    stop_words = {"the", "and", "of", "to", "in", "a", "is"}
    assert not stop_words & {t for terms in summary["topics"].values() for t in terms}
    assert summary["summary"]["n_clusters"] == int((len(chunks) / 2) ** 0.5)
    assert -1.0 <= summary["clusters"]["silhouette_score"] <= 1.0
    assert len(summary["clusters"]["assignments"]) == len(chunks)
    stats = summary["similarity"]["statistics"]
    assert 0.0 <= stats["min"] <= stats["median"] <= stats["max"] <= 1.0
    assert (
        stats["sampled"] is False
        and stats["n_samples"]
        == summary["summary"]["analysed_chunks"] * (summary["summary"]["analysed_chunks"] - 1) // 2
    )


def test_given_options_when_changed_then_the_analysis_follows_them(corpus):
    chunks = list(corpus_chunks(corpus))[:300]

    base = analyze(chunks, SemanticOptions(min_quality=0.0)).summary
    small = analyze(
        chunks, SemanticOptions(min_quality=0.0, max_features=200, ngram_range=(1, 1), n_components=7, n_clusters=4)
    ).summary
    # max_df 1.0 too: "the" is in nearly every chunk, and the default max_df of 0.95 would drop it anyway.
    keep_stop_words = analyze(chunks, SemanticOptions(min_quality=0.0, stop_words=None, max_df=1.0)).summary

    assert base["summary"]["vocabulary_size"] == 5000 and small["summary"]["vocabulary_size"] == 200
    assert all(" " not in t for terms in small["topics"].values() for t in terms)  # unigrams only
    assert (small["summary"]["n_components"], small["summary"]["n_clusters"]) == (7, 4)
    assert {"the", "and"} & {t for terms in keep_stop_words["topics"].values() for t in terms}


@pytest.mark.parametrize(
    ("n_docs", "min_df", "max_df", "bounds"),
    [
        pytest.param(2, 2, 0.95, (1, 0.95), id="two-chunks-at-max-df-0.95-drop-min-df-to-one"),
        pytest.param(100, 2, 0.95, (2, 0.95), id="a-large-corpus-keeps-min-df"),
        pytest.param(3, 5, 1.0, (3, 1.0), id="min-df-above-the-chunk-count-drops-to-it"),
    ],
)
def test_given_a_tiny_corpus_when_the_df_bounds_cannot_both_hold_then_min_df_relaxes(n_docs, min_df, max_df, bounds):
    assert vectorize.effective_df_bounds(n_docs, min_df, max_df) == bounds


def test_given_chunks_without_vocabulary_when_analysed_then_the_summary_says_so():
    chunks = [SemanticChunk(f"n{i}", f"{i} {i * 7} {i * 13}", "numbers.csv") for i in range(5)]

    summary = analyze(chunks, SemanticOptions(min_quality=0.0)).summary

    assert summary["summary"]["vocabulary_size"] == 0 and summary["topics"] == {}
    assert "No vocabulary" in summary["summary"]["note"]


# ---------------------------------------------------------------- quality


def test_given_texts_when_scored_then_clean_prose_beats_noise_and_tiny_text_is_for_review():
    prose = chunk_quality(
        "The committee approved the budget after a short discussion. Members asked about the "
        "travel costs and the new hires. The chair promised a report next month."
    )
    noise = chunk_quality(
        "#### $$$$ %%%% &&&& **** @@@@ !!!! ~~~~ ^^^^ ++++ ==== |||| //// \\\\\\\\ ;;;; :::: "
        "<<<< >>>> [[[[ ]]]] {{{{ }}}}"
    )
    tiny = chunk_quality("ok")

    assert prose["quality_score"] > 0.5 and prose["quality_flag"] in {"high", "medium"}
    assert noise["quality_score"] < 0.3 and noise["quality_flag"] in {"low", "review"}
    assert tiny["quality_flag"] == "review"
    assert set(prose["readability"]) >= {
        "flesch_reading_ease",
        "flesch_kincaid_grade",
        "gunning_fog",
        "smog_index",
        "coleman_liau_index",
        "automated_readability_index",
        "linsear_write_formula",
        "syllable_count",
        "lexical_diversity",
    }
    assert chunk_quality("The plan.", skip_readability=True)["readability"] is None


def test_given_a_minimum_quality_when_analysed_then_low_chunks_are_flagged_and_left_out(corpus):
    chunks = [*list(corpus_chunks(corpus))[:200], SemanticChunk("junk", "$$$$ #### @@@@ %%%% " * 20, "junk.txt")]

    analysis = analyze(chunks, SemanticOptions(min_quality=0.5))

    assert analysis.chunk_quality["junk"]["below_min_quality"] is True
    excluded = sum(q["below_min_quality"] for q in analysis.chunk_quality.values())
    assert analysis.summary["summary"]["excluded_low_quality"] == excluded >= 1
    assert analysis.summary["clusters"]["assignments"][-1] == -1  # not analysed
    distribution = analysis.summary["quality"]["distribution"]
    assert sum(distribution.values()) == len(chunks)


# ---------------------------------------------------------------- artifacts and determinism


def test_given_the_same_chunks_and_options_when_analysed_twice_then_every_byte_is_the_same(corpus):
    chunks = synthetic_chunks(corpus, 400, seed=9)
    options = SemanticOptions(report_format="html", graph_format="csv")

    first, second = analyze(chunks, options), analyze(chunks, options)

    assert [(a.name, a.data) for a in first.artifacts[1:]] == [(a.name, a.data) for a in second.artifacts[1:]]

    def strip(summary: dict) -> dict:
        return {**summary, "summary": {k: v for k, v in summary["summary"].items() if k != "processing_time_ms"}}

    assert strip(first.summary) == strip(second.summary)


@pytest.mark.parametrize(("report_format", "graph_format"), [("json", "json"), ("csv", "csv"), ("html", "dot")])
def test_given_report_and_graph_formats_when_rendered_then_each_artifact_has_its_format(report_format, graph_format):
    text = "The audit found that the access reviews were done on time and documented in the ticket system."
    chunks = [
        SemanticChunk("x1", text, "a.txt"),
        SemanticChunk("x2", text + " Reviewed.", "b.txt"),
        SemanticChunk("x3", "Football seasons at Carrow Road were long and the crowds were loud.", "c.txt"),
    ]

    artifacts = {
        a.artifact_type: a
        for a in analyze(
            chunks, SemanticOptions(min_quality=0.0, report_format=report_format, graph_format=graph_format)
        ).artifacts
    }

    assert json.loads(artifacts["summary"].data)["summary"]["total_chunks"] == 3
    assert artifacts["report"].name == f"semantic_report.{report_format}"
    assert artifacts["graph"].name == f"similarity_graph.{graph_format}"
    graph = artifacts["graph"].data.decode()
    if graph_format == "json":
        assert json.loads(graph)["edges"][0]["type"] == "duplicate"
    elif graph_format == "csv":
        assert graph.splitlines()[0] == "source,target,type,weight" and "x1,x2,duplicate" in graph
    else:
        assert '"x1" -- "x2"' in graph
    if report_format == "html":
        page = artifacts["report"].data.decode()
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page


# ---------------------------------------------------------------- the fast paths agree with the plain ones


def test_given_a_planted_neighbourhood_when_searched_through_the_embedding_then_it_equals_the_full_ranking():
    """The tiled upper-triangle search keeps, for each row, the same best k neighbours as ranking every full row
    of the n x n product (ties to the lower index), and verifies them exactly."""
    from scipy import sparse

    rng = np.random.default_rng(5)
    n, dims, k, floor = 1200, 24, 6, 0.55
    centres = rng.normal(size=(40, dims))
    embedding = centres[rng.integers(0, 40, n)] + 0.45 * rng.normal(size=(n, dims))
    embedding[7] = embedding[3]  # exact ties in the ranking
    embedding[11] = embedding[3]
    embedding = (embedding / np.linalg.norm(embedding, axis=1, keepdims=True)).astype(np.float32)
    matrix = sparse.csr_matrix(embedding.astype(np.float64))  # rows unit-length: the exact cosines are the same

    full = embedding @ embedding.T
    np.fill_diagonal(full, -np.inf)
    expected = set()
    for row in range(n):
        ranked = sorted((c for c in np.flatnonzero(full[row] >= floor)), key=lambda c: (-full[row, c], c))[:k]
        expected |= {(min(row, c), max(row, c)) for c in ranked}
    dense = _pairs(similarity.dense_pairs_above(matrix, 0.6))
    expected_hits = {p for p in expected if p in dense}

    saved = similarity.EMBEDDING_TILE_ROWS, similarity.EMBEDDING_TILE_COLUMNS
    try:  # tiles smaller than the corpus, so that rows and columns span several
        similarity.EMBEDDING_TILE_ROWS, similarity.EMBEDDING_TILE_COLUMNS = 64, 256
        found = _pairs(
            similarity.pairs_above_via_embedding(matrix, embedding, 0.6, candidates_per_row=k, embedding_floor=floor)
        )
    finally:
        similarity.EMBEDDING_TILE_ROWS, similarity.EMBEDDING_TILE_COLUMNS = saved

    assert len(expected_hits) > 500
    assert found.keys() == expected_hits
    assert max(abs(found[p] - dense[p]) for p in found) < 1e-5
    assert (3, 7) in found and (3, 11) in found and (7, 11) in found


@pytest.mark.corpus
def test_given_ten_thousand_chunks_when_searched_through_the_embedding_then_recall_stays_above_99_percent(corpus):
    from data_extract.pipeline.semantic import topics

    options = SemanticOptions()
    matrix = vectorize.tfidf([c.text for c in synthetic_chunks(corpus, 10_000)], options).matrix
    matrix = matrix[np.flatnonzero(np.diff(matrix.indptr))]
    vectors = topics.lsa_topics(matrix, np.arange(matrix.shape[1]).astype(str), options).vectors

    exact = _pairs(similarity.pairs_above(matrix, options.related_threshold))
    found = _pairs(
        similarity.pairs_above_via_embedding(
            matrix,
            vectors,
            options.related_threshold,
            candidates_per_row=options.embedding_candidates,
            embedding_floor=options.related_threshold - options.embedding_margin,
        )
    )

    assert len(exact) > 1000
    assert found.keys() <= exact.keys()
    assert len(found.keys() & exact.keys()) >= 0.99 * len(exact)


def _tricky_texts(corpus) -> list[str]:
    texts = [c.text for c in corpus_chunks(corpus)] + [c.text for c in synthetic_chunks(corpus, 1500, seed=4)]
    texts += [
        "",
        "   \n\t ",
        "ok",
        "A.",
        "Heading\nLine two!\n  indented list item  \t\n",
        "aaaa aaaa bbbb",
        "$$$$ #### @@@@ %%%% " * 20,
        "x" * 300,
        "snake_case_words and_more __init__",
        "Zero\u200bwidth",
        "tab\tend\t \nwindows line\r\nnext\rcarriage\x0bvertical\x0cform\u2028sep\u00a0nbsp.",
        "Émile naïve café\u0301 — “quoted” ’tis 1200 4500",
        "emoji \U0001f600 astral \U00010348 text " * 5,
        "lone \ud800 surrogate text that is long enough to count its entropy " * 3,
        "The Cat sat on the mat. It was fun! Was it? " * 30,
    ]
    return texts


def test_given_many_texts_when_scored_in_one_batch_then_every_value_equals_chunk_quality(corpus):
    from data_extract.pipeline.semantic import quality

    texts = _tricky_texts(corpus)
    flags = [("gibberish",) if i % 7 == 0 else () for i in range(len(texts))]
    saved = quality.QUALITY_BATCH
    try:  # several batches, so that words first seen in a later batch are numbered too
        quality.QUALITY_BATCH = 700
        for skip in (False, True):
            batch = quality.chunk_qualities(texts, flags, skip_readability=skip)
            single = [
                chunk_quality(t, extraction_flags=f, skip_readability=skip) for t, f in zip(texts, flags, strict=True)
            ]
            assert batch == single
    finally:
        quality.QUALITY_BATCH = saved
    assert quality.chunk_qualities([]) == []


def test_given_every_code_point_when_classified_by_the_tables_then_they_agree_with_the_regular_expressions():
    from data_extract.pipeline.semantic import quality

    space, special = quality._character_tables()
    every = "".join(map(chr, range(0x110000)))
    assert np.flatnonzero(space).tolist() == [m.start() for m in quality._SPACE.finditer(every)]
    assert np.flatnonzero(special).tolist() == [m.start() for m in quality._SPECIAL.finditer(every)]


def test_given_random_texts_when_lines_are_counted_then_they_match_the_regular_expression():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from data_extract.pipeline.semantic import quality

    alphabet = st.sampled_from([*"ab.!?_ \t\n\r\x0b\x0c\x1c\u2028\u00a0\u3000é", "…"])

    @settings(max_examples=3000, deadline=None, derandomize=True)
    @given(st.text(alphabet=alphabet, max_size=40))
    def check(text):
        assert quality._unpunctuated_lines(text) == len(quality._UNPUNCTUATED_LINE.findall(text))

    check()


def test_given_corpus_chunks_when_vectorized_then_the_matrix_is_scikit_learns_with_the_same_options(corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer

    options = SemanticOptions()
    chunks = [c.text for c in corpus_chunks(corpus)][:600]
    ours = vectorize.tfidf(chunks, options)
    reference = TfidfVectorizer(
        max_features=options.max_features,
        ngram_range=options.ngram_range,
        min_df=ours.min_df,
        max_df=ours.max_df,
        sublinear_tf=True,
        stop_words="english",
        lowercase=True,
        strip_accents="unicode",
        token_pattern=vectorize.TOKEN_PATTERN,
        dtype=np.float32,
    )
    expected = reference.fit_transform(chunks).tocsr()
    expected.sort_indices()
    assert ours.terms.tolist() == reference.get_feature_names_out().tolist()
    assert np.array_equal(ours.matrix.indptr, expected.indptr) and np.array_equal(
        ours.matrix.indices, expected.indices
    )
    assert np.array_equal(ours.matrix.data, expected.data)
