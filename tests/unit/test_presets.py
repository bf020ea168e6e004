"""Presets, the default configuration and the per-run resolution."""

from __future__ import annotations

from decimal import Decimal

import pytest

from data_extract import presets
from data_extract.presets import (
    DEFAULT_CONFIG,
    InvalidPresetName,
    InvalidRunConfig,
    PresetNotFound,
    RunConfig,
    effective_config,
    get_preset,
    list_presets,
    preview,
    resolve_run_config,
    validate_preset_name,
)

BUILTIN_NAMES = ["audit-standard", "balanced", "quality", "quick-scan", "rag-optimized", "speed"]


def resolve(preset: str | None = None, **request: object) -> RunConfig:
    """Resolve as the API does: only the fields passed here count as set by the client."""
    return resolve_run_config(dict(request), set(request), preset)


def leaf_paths(config: dict, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in config.items():
        if isinstance(value, dict):
            paths |= leaf_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


# --- defaults -----------------------------------------------------------------------------


def test_given_no_preset_when_effective_config_then_it_is_the_documented_default_shape():
    config = effective_config()

    assert config == {
        "format": "json",
        "chunk": {"max_tokens": 512, "overlap": 128},
        "semantic": {
            "tfidf": {
                "max_features": 5000,
                "ngram_range": [1, 2],
                "min_df": 2,
                "max_df": 0.95,
                "sublinear_tf": True,
                "stop_words": "english",
            },
            "similarity": {"duplicate_threshold": 0.95, "related_threshold": 0.7},
            "lsa": {"n_components": 100, "n_clusters": None},
            "quality": {"min_score": 0.3},
        },
        "quality": {"min_score": 0.3, "skip_readability": False},
        "metadata": {"include": False},
        "validation": {"level": "standard"},
    }
    assert "output_dir" not in config and "cache" not in config["semantic"]


def test_given_effective_config_when_caller_mutates_it_then_defaults_stay_intact():
    config = effective_config("rag-optimized")
    config["chunk"]["max_tokens"] = 1
    get_preset("rag-optimized").settings["chunk"]["max_tokens"] = 2

    assert DEFAULT_CONFIG["chunk"]["max_tokens"] == 512
    assert effective_config("rag-optimized")["chunk"]["max_tokens"] == 256


def test_given_nothing_requested_when_resolving_without_preset_then_defaults_apply():
    config = resolve()

    assert config.preset is None
    assert config.output_format == "json"
    assert (config.chunk_size, config.chunk_overlap) == (512, 128)
    assert config.include_metadata is False
    assert config.tfidf.max_features == 5000
    assert config.tfidf.ngram_range == (1, 2)
    assert (config.tfidf.min_df, config.tfidf.max_df) == (2, 0.95)
    assert (config.duplicate_threshold, config.related_threshold) == (0.95, 0.7)
    assert (config.n_components, config.n_clusters) == (100, None)
    assert config.min_quality == 0.3
    assert config.skip_readability is False
    assert config.validation_level == "standard"


# --- the presets change what they claim ----------------------------------------------------


def test_given_rag_optimized_when_resolving_then_small_chunks_overlap_and_unigrams_apply():
    config = resolve("rag-optimized")

    assert (config.chunk_size, config.chunk_overlap) == (256, 64)
    assert config.tfidf.ngram_range == (1, 1)
    assert config.tfidf.max_features == 3000
    assert config.min_quality == 0.5


def test_given_quick_scan_when_resolving_then_small_vocabulary_and_no_readability():
    config = resolve("quick-scan")

    assert config.tfidf.max_features == 1000
    assert config.skip_readability is True
    # Everything it does not set stays at the default.
    assert (config.chunk_size, config.chunk_overlap) == (512, 128)
    assert config.tfidf.ngram_range == (1, 2)


def test_given_audit_standard_when_resolving_then_its_yaml_values_apply():
    config = resolve("audit-standard")

    assert (config.chunk_size, config.chunk_overlap) == (512, 128)
    assert config.tfidf == presets.TfidfSettings(max_features=5000, ngram_range=(1, 2), min_df=2, max_df=0.95)
    assert (config.duplicate_threshold, config.related_threshold, config.n_components) == (0.95, 0.7, 100)
    assert config.min_quality == 0.3


@pytest.mark.parametrize(
    ("name", "chunk", "overlap", "min_quality", "duplicate", "include_metadata", "level"),
    [
        ("quality", 256, 64, 0.9, 0.85, True, "strict"),
        ("speed", 1024, 256, 0.5, 0.99, False, "minimal"),
        ("balanced", 500, 125, 0.7, 0.95, True, "standard"),
    ],
)
def test_given_a_profile_preset_when_resolving_then_every_bridged_value_reaches_the_run(
    name, chunk, overlap, min_quality, duplicate, include_metadata, level
):
    config = resolve(name)

    assert (config.chunk_size, config.chunk_overlap) == (chunk, overlap)
    assert config.min_quality == min_quality
    assert config.duplicate_threshold == duplicate
    assert config.include_metadata is include_metadata
    assert config.validation_level == level
    assert config.output_format == "json"


def test_given_audit_standard_when_merged_then_it_equals_the_defaults():
    # The defaults are the audit standard, so that preset pins them rather than changing them.
    assert effective_config("audit-standard") == DEFAULT_CONFIG


@pytest.mark.parametrize("name", [name for name in BUILTIN_NAMES if name != "audit-standard"])
def test_given_any_builtin_preset_but_audit_standard_when_merged_then_it_differs_from_the_defaults(name):
    assert effective_config(name) != DEFAULT_CONFIG


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_given_any_builtin_preset_then_it_only_sets_keys_the_run_reads(name):
    assert leaf_paths(dict(get_preset(name).settings)) <= leaf_paths(DEFAULT_CONFIG)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_given_any_builtin_preset_then_overlap_is_a_quarter_of_the_chunk(name):
    chunk = effective_config(name)["chunk"]
    assert chunk["overlap"] * 4 == chunk["max_tokens"]


def test_given_a_preset_setting_one_quality_name_then_both_names_show_the_value_in_effect():
    rag = effective_config("rag-optimized")
    quality = effective_config("quality")

    assert rag["quality"]["min_score"] == rag["semantic"]["quality"]["min_score"] == 0.5
    assert quality["quality"]["min_score"] == quality["semantic"]["quality"]["min_score"] == 0.9


def test_given_a_preset_key_the_run_does_not_read_then_building_the_registry_refuses_it(monkeypatch):
    stray = presets.Preset("stray", presets.WORKFLOW, "d", {"semantic": {"cache": {"enabled": False}}})
    monkeypatch.setattr(presets, "_BUILTIN_PRESET_DEFINITIONS", (stray,))

    with pytest.raises(ValueError, match=r"semantic\.cache"):
        presets._build_registry()


# --- precedence ----------------------------------------------------------------------------


def test_given_explicit_request_fields_when_a_preset_is_named_then_the_request_wins():
    config = resolve(
        "rag-optimized",
        output_format="csv",
        chunk_size=512,  # equal to the default: still the client's explicit choice
        chunk_overlap=100,
        include_metadata=True,
        semantic_max_features=42,
        semantic_duplicate_threshold=0.9,
        semantic_related_threshold=0.6,
        semantic_n_components=12,
        semantic_min_quality=0.1,
    )

    assert config.output_format == "csv"
    assert (config.chunk_size, config.chunk_overlap) == (512, 100)
    assert config.include_metadata is True
    assert config.tfidf.max_features == 42
    assert (config.duplicate_threshold, config.related_threshold) == (0.9, 0.6)
    assert config.n_components == 12
    assert config.min_quality == 0.1
    # Settings the request cannot name still come from the preset.
    assert config.tfidf.ngram_range == (1, 1)
    assert config.preset == "rag-optimized"


def test_given_request_defaults_not_explicitly_set_when_a_preset_is_named_then_the_preset_wins():
    request = {"output_format": "json", "chunk_size": 512, "include_metadata": False, "semantic_max_features": None}

    config = resolve_run_config(request, set(), "speed")

    assert config.chunk_size == 1024
    assert config.include_metadata is False
    assert config.tfidf.max_features == 5000


def test_given_explicit_nulls_for_optional_tunables_then_the_preset_value_applies():
    config = resolve("quick-scan", semantic_max_features=None, chunk_overlap=None)

    assert config.tfidf.max_features == 1000
    assert config.chunk_overlap == 128


@pytest.mark.parametrize(
    ("preset", "chunk_size", "overlap"),
    [
        pytest.param(None, 1000, 250, id="default"),
        pytest.param("rag-optimized", 100, 25, id="rag-optimized"),
        pytest.param("balanced", 64, 16, id="balanced"),
        pytest.param(None, 1, 0, id="one-token-chunks-get-no-overlap"),
    ],
)
def test_given_request_chunk_size_without_overlap_then_overlap_keeps_the_preset_ratio(preset, chunk_size, overlap):
    config = resolve(preset, chunk_size=chunk_size)

    assert (config.chunk_size, config.chunk_overlap) == (chunk_size, overlap)


def test_given_request_overlap_not_smaller_than_the_preset_chunk_then_resolution_is_rejected():
    with pytest.raises(InvalidRunConfig, match="chunk_overlap"):
        resolve("rag-optimized", chunk_overlap=300)


def test_given_request_output_format_in_upper_case_then_it_is_normalized():
    assert resolve(output_format="TXT").output_format == "txt"


@pytest.mark.parametrize(
    "request_fields",
    [
        {"output_format": "xml"},
        {"chunk_size": 0},
        {"chunk_size": True},
        {"chunk_size": "512"},
        {"semantic_duplicate_threshold": 1.5},
        {"semantic_min_quality": -0.1},
        {"semantic_max_features": 0},
        {"include_metadata": "yes"},
    ],
)
def test_given_unusable_request_values_then_resolution_is_rejected(request_fields):
    with pytest.raises(InvalidRunConfig):
        resolve_run_config(request_fields, set(request_fields), None)


def test_given_a_resolved_config_when_round_tripped_through_storage_then_it_is_unchanged():
    config = resolve("rag-optimized", chunk_size=300)
    stored = config.to_dict()
    assert stored["tfidf"]["ngram_range"] == [1, 1]

    # DynamoDB gives numbers back as Decimal.
    def as_decimal(value):
        if isinstance(value, dict):
            return {k: as_decimal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_decimal(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Decimal(str(value))
        return value

    restored = RunConfig.from_dict(as_decimal(stored))

    assert restored == config
    assert isinstance(restored.tfidf.min_df, int) and isinstance(restored.tfidf.max_df, float)


def test_given_a_resolved_config_then_it_is_frozen():
    config = resolve()
    with pytest.raises(AttributeError):
        config.chunk_size = 1  # type: ignore[misc]


# --- names, listing, preview ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", " a", "a ", "a/b", "a\\b", "", "a..b", ".hidden", "-x", "a\n", "é", None])
def test_given_a_malformed_name_then_it_is_an_invalid_preset_name(name):
    with pytest.raises(InvalidPresetName) as caught:
        validate_preset_name(name)
    assert str(caught.value) == (
        f"Invalid preset name '{name}'. Use only letters, numbers, underscores, hyphens, or dots; "
        "path separators and '..' are not allowed."
    )
    with pytest.raises(InvalidPresetName):
        preview(name)
    if name is not None:  # None means "no preset" to the resolver
        with pytest.raises(InvalidPresetName):
            resolve(name)


@pytest.mark.parametrize("name", ["nope", "Quality", "rag_optimized", "v1.2"])
def test_given_a_well_formed_unknown_name_then_preset_not_found(name):
    validate_preset_name(name)
    with pytest.raises(PresetNotFound) as caught:
        get_preset(name)
    assert str(caught.value) == f"Preset not found: {name}"
    with pytest.raises(PresetNotFound):
        resolve(name)


def test_when_listing_presets_then_all_six_builtins_are_sorted_and_described():
    listed = list_presets()

    assert [p["name"] for p in listed] == BUILTIN_NAMES
    assert all(p["is_builtin"] is True for p in listed)
    assert all(isinstance(p["description"], str) and len(p["description"]) > 10 for p in listed)
    categories = {p["name"]: p["category"] for p in listed}
    assert {categories[n] for n in ("audit-standard", "quick-scan", "rag-optimized")} == {presets.WORKFLOW}
    assert {categories[n] for n in ("quality", "speed", "balanced")} == {presets.PROFILE}


def test_when_previewing_every_preset_then_the_shape_is_the_same():
    previews = [preview(name) for name in BUILTIN_NAMES]

    for item in previews:
        assert set(item) == {"preset", "category", "description", "effective_config"}
        assert leaf_paths(item["effective_config"]) == leaf_paths(DEFAULT_CONFIG)
    assert [p["preset"] for p in previews] == BUILTIN_NAMES


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_when_previewing_a_preset_then_the_effective_config_is_the_one_the_run_uses(name):
    config = preview(name)["effective_config"]
    run = resolve(name)
    assert (run.chunk_size, run.chunk_overlap) == (config["chunk"]["max_tokens"], config["chunk"]["overlap"])
    assert run.tfidf.max_features == config["semantic"]["tfidf"]["max_features"]
    assert list(run.tfidf.ngram_range) == config["semantic"]["tfidf"]["ngram_range"]
    assert run.min_quality == config["semantic"]["quality"]["min_score"]
    assert run.skip_readability == config["quality"]["skip_readability"]
    assert run.include_metadata == config["metadata"]["include"]
    assert run.validation_level == config["validation"]["level"]
