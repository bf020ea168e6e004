"""Every semantic key of every built-in preset changes the semantic stage's result where the preset says.

The run configuration is resolved the way a submitted job's is (presets.resolve_run_config, then
jobs.submit.build_run_config), read back by the stage (SemanticOptions.from_run_config) and run on corpus chunks
with planted near-duplicates at several similarities, so each setting has something to change.
"""

from __future__ import annotations

import random
from functools import cache

import pytest

from data_extract.contract import JobOptions
from data_extract.jobs.submit import build_run_config
from data_extract.pipeline.semantic.analyze import analyze
from data_extract.pipeline.semantic.types import SemanticChunk, SemanticOptions
from data_extract.presets import DEFAULT_CONFIG, effective_config, list_presets, resolve_run_config
from tests.conftest import corpus_dir
from tests.support.semantic_corpus import corpus_chunks, corpus_sentences

pytestmark = pytest.mark.corpus


def _run_config(preset: str | None) -> dict:
    options = JobOptions(include_semantic=True, preset=preset)
    resolved = resolve_run_config(options.model_dump(), options.model_fields_set, preset)
    return build_run_config(options, resolved.to_dict())


def _chunks() -> list[SemanticChunk]:
    rng = random.Random(5)
    real = [c for c in corpus_chunks(corpus_dir()) if len(c.text.split()) >= 60][:250]
    chunks = list(real)
    for number, original in enumerate(real[:60]):
        words = original.text.split()
        # 1 to 12 words in 60 changed: similarities from ~0.99 down to ~0.8.
        for _ in range(1 + number % 12):
            position = rng.randrange(len(words))
            words[position] = f"zq{rng.randrange(10**6)}x"
        chunks.append(SemanticChunk(f"edited_{number:02d}", " ".join(words), "edited.txt"))
    # Repetitive chunks (a sentence said 2 to 6 times): quality scores spread over 0.45-0.7, where the presets'
    # minimum scores (0.3, 0.5, 0.7, 0.9) cut.
    for number, sentence in enumerate(corpus_sentences(corpus_dir())[100:160]):
        chunks.append(SemanticChunk(f"repeated_{number:02d}", " ".join([sentence] * (2 + number % 5)), "rep.txt"))
    return chunks


@cache
def _analysis(preset: str | None):
    return analyze(_chunks(), SemanticOptions.from_run_config(_run_config(preset)))


def _leaves(config: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _observed(analysis) -> dict[str, object]:
    """What each semantic setting visibly changes in the stage's result."""
    summary = analysis.summary
    terms = {t for ts in summary["topics"].values() for t in ts}
    return {
        "semantic.tfidf.max_features": summary["summary"]["vocabulary_size"],
        "semantic.tfidf.ngram_range": any(" " in t for t in terms),
        "semantic.tfidf.min_df": summary["config"]["tfidf_min_df"],
        "semantic.tfidf.max_df": summary["config"]["tfidf_max_df"],
        "semantic.tfidf.sublinear_tf": summary["similarity"]["statistics"]["mean"],
        "semantic.tfidf.stop_words": bool({"the", "and"} & terms),
        "semantic.similarity.duplicate_threshold": summary["similarity"]["statistics"]["n_duplicate_pairs"],
        "semantic.similarity.related_threshold": summary["similarity"]["statistics"]["n_similar_pairs"],
        "semantic.lsa.n_components": summary["summary"]["n_components"],
        "semantic.lsa.n_clusters": summary["summary"]["n_clusters"],
        "semantic.quality.min_score": summary["summary"]["excluded_low_quality"],
        "quality.min_score": summary["summary"]["excluded_low_quality"],
        "quality.skip_readability": next(iter(analysis.chunk_quality.values()))["readability"] is None,
    }


SEMANTIC_KEYS = [k for k in _leaves(DEFAULT_CONFIG) if k.startswith(("semantic.", "quality."))]


def test_every_semantic_setting_has_an_observable_effect_listed():
    assert sorted(SEMANTIC_KEYS) == sorted(_observed(_analysis(None)))


@pytest.mark.parametrize("preset", [p["name"] for p in list_presets()])
def test_given_a_preset_when_its_run_is_analysed_then_it_differs_from_the_default_where_it_says(preset):
    default_leaves = _leaves(DEFAULT_CONFIG)
    preset_leaves = _leaves(effective_config(preset))
    changed = {k for k in SEMANTIC_KEYS if preset_leaves[k] != default_leaves[k]}
    default_seen, preset_seen = _observed(_analysis(None)), _observed(_analysis(preset))

    for key in changed:
        assert preset_seen[key] != default_seen[key], f"{preset}: {key} is set but the result did not change"
    if not changed:
        # audit-standard's semantic settings are the defaults: its analysis is the default's.
        assert preset == "audit-standard"
        assert preset_seen == default_seen
