"""Run configuration: defaults, built-in presets and the per-job resolution.

Everything here is pure data and pure functions (no AWS, no HTTP), so the API
can resolve a job's configuration at submit time and reject a bad combination
with 422, and the worker and finalize read the same resolved values back from
the job record (``RunConfig.to_dict`` / ``RunConfig.from_dict``).

The configuration has a nested shape (``format``, ``chunk``, ``semantic``,
``quality``, ``metadata``, ``validation``) that preset files and clients reading
``GET /config/effective`` depend on. Keys that only make sense for a single
server with a local disk are not part of it:

- ``output_dir``: every job writes under its own S3 prefix, chosen by the
  service, never by configuration.
- ``semantic.cache``: there is no process-global model cache; the corpus-level
  semantic stage runs once per job, so a cache would never be warm, and a
  pickle cache on disk would run the code of whoever can write it. Presets that
  set ``cache`` keys have them dropped.

Every key a preset sets reaches the run: this module refuses, at import time, a
preset key that ``DEFAULT_CONFIG`` does not have, and ``resolve_run_config``
reads every key of the merged configuration.

``quality.min_score`` and ``semantic.quality.min_score`` are one setting under
two names, both in use (the workflow presets set the first, the speed/accuracy
profiles the second). A preset may set either; the merged configuration always
shows the value in effect under both names.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

OUTPUT_FORMATS = ("json", "txt", "csv")
VALIDATION_LEVELS = ("minimal", "standard", "strict")

# The effective configuration when no preset is named and the request sets nothing.
DEFAULT_CONFIG: dict[str, Any] = {
    "format": "json",
    "chunk": {"max_tokens": 512, "overlap": 128},
    "semantic": {
        # stop_words: "english" (scikit-learn's list) or null to keep every word.
        "tfidf": {
            "max_features": 5000,
            "ngram_range": [1, 2],
            "min_df": 2,
            "max_df": 0.95,
            "sublinear_tf": True,
            "stop_words": "english",
        },
        "similarity": {"duplicate_threshold": 0.95, "related_threshold": 0.7},
        # n_clusters null: the semantic stage picks k from the corpus size.
        "lsa": {"n_components": 100, "n_clusters": None},
        "quality": {"min_score": 0.3},
    },
    "quality": {"min_score": 0.3, "skip_readability": False},
    "metadata": {"include": False},
    "validation": {"level": "standard"},
}

# Categories group the presets under names a user can read:
# "workflow" presets are tuned for one kind of work, "profile" presets trade speed for accuracy.
WORKFLOW = "workflow"
PROFILE = "profile"


@dataclass(frozen=True)
class Preset:
    name: str
    category: str
    description: str
    # Partial configuration in the DEFAULT_CONFIG shape, layered over the defaults.
    settings: Mapping[str, Any] = field(repr=False)


_BUILTIN_PRESET_DEFINITIONS: tuple[Preset, ...] = (
    # The workflow presets, with the content their preset files have always had (minus semantic.cache).
    Preset(
        name="audit-standard",
        category=WORKFLOW,
        description=(
            "Audit document processing: 512-token chunks with 128 tokens of overlap, "
            "unigram and bigram TF-IDF over 5000 terms, standard duplicate and related thresholds."
        ),
        settings={
            "semantic": {
                "tfidf": {"max_features": 5000, "ngram_range": [1, 2], "min_df": 2, "max_df": 0.95},
                "similarity": {"duplicate_threshold": 0.95, "related_threshold": 0.7},
                "lsa": {"n_components": 100},
            },
            "chunk": {"max_tokens": 512, "overlap": 128},
            "quality": {"min_score": 0.3},
        },
    ),
    Preset(
        name="quick-scan",
        category=WORKFLOW,
        description=("Fast preview of a document set: a 1000-term TF-IDF vocabulary and no readability scoring."),
        settings={
            "semantic": {"tfidf": {"max_features": 1000}},
            "quality": {"skip_readability": True},
        },
    ),
    Preset(
        name="rag-optimized",
        category=WORKFLOW,
        description=(
            "Retrieval-ready output for embedding models: 256-token chunks with 64 tokens of overlap, "
            "unigram TF-IDF over 3000 terms and a 0.5 minimum chunk quality."
        ),
        settings={
            "semantic": {
                "tfidf": {"max_features": 3000, "ngram_range": [1, 1]},
                "similarity": {"duplicate_threshold": 0.95, "related_threshold": 0.7},
            },
            "chunk": {"max_tokens": 256, "overlap": 64},
            "quality": {"min_score": 0.5},
        },
    ),
    # The speed/accuracy profiles, in the same shape. Their overlap keeps
    # the defaults' ratio (128/512 = 25%) so a profile changes the chunk size without changing
    # how much context neighbouring chunks share.
    Preset(
        name="quality",
        category=PROFILE,
        description="Maximum accuracy with thorough validation",
        settings={
            "format": "json",
            "chunk": {"max_tokens": 256, "overlap": 64},
            "semantic": {"quality": {"min_score": 0.9}, "similarity": {"duplicate_threshold": 0.85}},
            "metadata": {"include": True},
            "validation": {"level": "strict"},
        },
    ),
    Preset(
        name="speed",
        category=PROFILE,
        description="Fast processing with minimal overhead",
        settings={
            "format": "json",
            "chunk": {"max_tokens": 1024, "overlap": 256},
            "semantic": {"quality": {"min_score": 0.5}, "similarity": {"duplicate_threshold": 0.99}},
            "metadata": {"include": False},
            "validation": {"level": "minimal"},
        },
    ),
    Preset(
        name="balanced",
        category=PROFILE,
        description="Default trade-off for daily use",
        settings={
            "format": "json",
            "chunk": {"max_tokens": 500, "overlap": 125},
            "semantic": {"quality": {"min_score": 0.7}, "similarity": {"duplicate_threshold": 0.95}},
            "metadata": {"include": True},
            "validation": {"level": "standard"},
        },
    ),
)


class PresetError(ValueError):
    """Base class of preset lookup errors; the message is safe to show to a client."""


class InvalidPresetName(PresetError):
    """The name is not a well-formed preset name (the API answers 400)."""


class PresetNotFound(PresetError, LookupError):
    """No preset has this name (the API answers 404)."""


class InvalidRunConfig(ValueError):
    """The request and preset combine into values a run cannot use (the API answers 422)."""


_PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def validate_preset_name(name: object) -> None:
    """Raise ``InvalidPresetName`` unless ``name`` could name a preset.

    Letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit; no path
    separators, no ``..`` and no surrounding whitespace (a trailing newline included).
    """
    if not isinstance(name, str) or not _PRESET_NAME.fullmatch(name) or ".." in name:
        raise InvalidPresetName(
            f"Invalid preset name '{name}'. Use only letters, numbers, underscores, hyphens, or dots; "
            "path separators and '..' are not allowed."
        )


def _deep_merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``layer`` over ``base``, merging nested mappings; other values (lists too) replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _unknown_keys(layer: Mapping[str, Any], reference: Mapping[str, Any], prefix: str = "") -> list[str]:
    unknown: list[str] = []
    for key, value in layer.items():
        path = f"{prefix}{key}"
        if key not in reference:
            unknown.append(path)
        elif isinstance(value, Mapping):
            if isinstance(reference[key], Mapping):
                unknown.extend(_unknown_keys(value, reference[key], prefix=f"{path}."))
            else:
                unknown.append(path)
    return unknown


def _with_one_min_score(settings: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Mirror the quality threshold under both of its names (see the module docstring)."""
    top = settings.get("quality", {}).get("min_score")
    semantic = settings.get("semantic", {}).get("quality", {}).get("min_score")
    if top is not None and semantic is not None and top != semantic:
        raise ValueError(f"preset '{name}' sets two different minimum quality scores: {top} and {semantic}")
    value = top if top is not None else semantic
    if value is None:
        return copy.deepcopy(dict(settings))
    return _deep_merge(settings, {"quality": {"min_score": value}, "semantic": {"quality": {"min_score": value}}})


def _build_registry() -> dict[str, Preset]:
    registry: dict[str, Preset] = {}
    for preset in _BUILTIN_PRESET_DEFINITIONS:
        validate_preset_name(preset.name)
        unknown = _unknown_keys(preset.settings, DEFAULT_CONFIG)
        if unknown:
            # A key nothing reads would make the preset silently stop mattering: refuse it at import.
            raise ValueError(f"preset '{preset.name}' sets keys the run does not read: {', '.join(unknown)}")
        registry[preset.name] = Preset(
            name=preset.name,
            category=preset.category,
            description=preset.description,
            settings=_with_one_min_score(preset.settings, preset.name),
        )
    return registry


_PRESETS: dict[str, Preset] = _build_registry()


def get_preset(name: str) -> Preset:
    """The built-in preset called ``name`` (exact, case-sensitive match)."""
    validate_preset_name(name)
    try:
        preset = _PRESETS[name]
    except KeyError:
        raise PresetNotFound(f"Preset not found: {name}") from None
    # A copy: a caller editing the settings must not change the preset for the next job.
    return replace(preset, settings=copy.deepcopy(preset.settings))


def list_presets() -> list[dict[str, Any]]:
    """Every preset as ``{name, category, description, is_builtin}``, sorted by name."""
    return [
        {"name": p.name, "category": p.category, "description": p.description, "is_builtin": True}
        for p in sorted(_PRESETS.values(), key=lambda p: p.name)
    ]


def effective_config(preset: str | None = None) -> dict[str, Any]:
    """A fresh copy of the defaults, with the named preset layered over them when given."""
    if preset is None:
        return copy.deepcopy(DEFAULT_CONFIG)
    return _deep_merge(DEFAULT_CONFIG, get_preset(preset).settings)


def preview(name: str) -> dict[str, Any]:
    """What applying a preset means, in the same shape for every preset."""
    preset = get_preset(name)
    return {
        "preset": preset.name,
        "category": preset.category,
        "description": preset.description,
        "effective_config": effective_config(preset.name),
    }


@dataclass(frozen=True)
class TfidfSettings:
    max_features: int
    ngram_range: tuple[int, int]
    # Fixed kinds, so the values survive storage that does not keep int/float apart (DynamoDB):
    min_df: int  # a term must appear in at least this many chunks
    max_df: float  # and in at most this share of the chunks (0, 1]
    sublinear_tf: bool = True  # 1 + log(tf) instead of the raw count
    stop_words: str | None = "english"  # "english" or None


@dataclass(frozen=True)
class RunConfig:
    """Every configurable value a run uses, resolved once per job."""

    preset: str | None
    output_format: str  # json | txt | csv
    chunk_size: int  # maximum tokens per chunk
    chunk_overlap: int  # tokens repeated from the previous chunk, always < chunk_size
    include_metadata: bool
    tfidf: TfidfSettings
    duplicate_threshold: float  # similarity at or above which two chunks are near-duplicates
    related_threshold: float  # similarity at or above which two chunks are related
    n_components: int  # LSA components (the semantic stage caps it by corpus size)
    n_clusters: int | None  # None: chosen from the corpus size
    min_quality: float  # minimum chunk quality score of the semantic stage's quality filter
    skip_readability: bool  # the semantic quality stage leaves out the readability metrics
    validation_level: str  # minimal | standard | strict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (``ngram_range`` as a list), readable back with ``from_dict``."""
        values = asdict(self)
        values["tfidf"]["ngram_range"] = list(self.tfidf.ngram_range)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Rebuild from ``to_dict`` output, also after a DynamoDB round trip (numbers as Decimal)."""
        tfidf = values["tfidf"]
        return cls(
            preset=values.get("preset"),
            output_format=str(values["output_format"]),
            chunk_size=int(values["chunk_size"]),
            chunk_overlap=int(values["chunk_overlap"]),
            include_metadata=bool(values["include_metadata"]),
            tfidf=TfidfSettings(
                max_features=int(tfidf["max_features"]),
                ngram_range=(int(tfidf["ngram_range"][0]), int(tfidf["ngram_range"][1])),
                min_df=int(tfidf["min_df"]),
                max_df=float(tfidf["max_df"]),
                sublinear_tf=bool(tfidf.get("sublinear_tf", True)),
                stop_words=tfidf.get("stop_words", "english"),
            ),
            duplicate_threshold=float(values["duplicate_threshold"]),
            related_threshold=float(values["related_threshold"]),
            n_components=int(values["n_components"]),
            n_clusters=None if values.get("n_clusters") is None else int(values["n_clusters"]),
            min_quality=float(values["min_quality"]),
            skip_readability=bool(values["skip_readability"]),
            validation_level=str(values["validation_level"]),
        )


# Request field -> where the same setting lives in the nested configuration.
REQUEST_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "output_format": ("format",),
    "chunk_size": ("chunk", "max_tokens"),
    "chunk_overlap": ("chunk", "overlap"),
    "include_metadata": ("metadata", "include"),
    "semantic_max_features": ("semantic", "tfidf", "max_features"),
    "semantic_duplicate_threshold": ("semantic", "similarity", "duplicate_threshold"),
    "semantic_related_threshold": ("semantic", "similarity", "related_threshold"),
    "semantic_n_components": ("semantic", "lsa", "n_components"),
    "semantic_min_quality": ("semantic", "quality", "min_score"),
}


def resolve_run_config(
    request_fields: Mapping[str, Any], explicitly_set: set[str] | frozenset[str], preset: str | None
) -> RunConfig:
    """Resolve the configuration of one run.

    Precedence, per setting:

    1. a request field the client set explicitly (in ``explicitly_set``, e.g. a pydantic
       model's ``model_fields_set``) with a non-null value, even when it equals the default;
    2. otherwise the value the named preset sets;
    3. otherwise ``DEFAULT_CONFIG``.

    The request fields are the API's: ``output_format``, ``chunk_size``, ``chunk_overlap``,
    ``include_metadata`` and ``semantic_max_features``, ``semantic_duplicate_threshold``,
    ``semantic_related_threshold``, ``semantic_n_components``, ``semantic_min_quality``.
    Everything else (TF-IDF n-grams and document-frequency bounds, cluster count, readability,
    validation level) comes from the preset or the defaults.

    Overlap: when the request sets ``chunk_size`` but not ``chunk_overlap``, the overlap keeps
    the preset's (or the defaults') overlap/size ratio, rounded down and kept below the chunk
    size, so a smaller chunk never inherits an overlap as large as itself.

    ``preset`` is the name the job runs with; the caller substitutes the stored default preset
    before calling when the request named none. Raises ``InvalidPresetName``, ``PresetNotFound``
    or ``InvalidRunConfig`` (values that cannot run together, such as an overlap not smaller
    than the chunk size).
    """
    base = effective_config(preset)
    choice = _Choice(request_fields, explicitly_set, base)
    output_format = _one_of("output_format", str(choice.value("output_format")).strip().lower(), OUTPUT_FORMATS)
    chunk_size = _integer("chunk_size", choice.value("chunk_size"), minimum=1)
    chunk_overlap = _chunk_overlap(choice, chunk_size, base)
    tfidf = base["semantic"]["tfidf"]
    ngram_range, max_df, stop_words = _checked_tfidf_shape(tfidf)
    n_clusters = base["semantic"]["lsa"]["n_clusters"]
    include_metadata = _boolean("include_metadata", choice.value("include_metadata"))
    return RunConfig(
        preset=preset,
        output_format=output_format,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        include_metadata=include_metadata,
        tfidf=TfidfSettings(
            max_features=_integer("semantic_max_features", choice.value("semantic_max_features"), minimum=1),
            ngram_range=ngram_range,
            min_df=_integer("semantic.tfidf.min_df", tfidf["min_df"], minimum=1),
            max_df=max_df,
            sublinear_tf=_boolean("semantic.tfidf.sublinear_tf", tfidf["sublinear_tf"]),
            stop_words=stop_words,
        ),
        duplicate_threshold=_share("semantic_duplicate_threshold", choice.value("semantic_duplicate_threshold")),
        related_threshold=_share("semantic_related_threshold", choice.value("semantic_related_threshold")),
        n_components=_integer("semantic_n_components", choice.value("semantic_n_components"), minimum=1),
        n_clusters=None if n_clusters is None else _integer("semantic.lsa.n_clusters", n_clusters, minimum=2),
        min_quality=_share("semantic_min_quality", choice.value("semantic_min_quality")),
        skip_readability=_boolean("quality.skip_readability", base["quality"]["skip_readability"]),
        validation_level=_one_of("validation.level", base["validation"]["level"], VALIDATION_LEVELS),
    )


class _Choice:
    """Per request field: the request's value when the client set it (not null), else the preset's."""

    def __init__(
        self, request_fields: Mapping[str, Any], explicitly_set: set[str] | frozenset[str], base: Mapping[str, Any]
    ) -> None:
        self._fields = request_fields
        self._set = explicitly_set
        self.base = base

    def requested(self, request_field: str) -> bool:
        return request_field in self._set and self._fields.get(request_field) is not None

    def value(self, request_field: str) -> Any:
        if self.requested(request_field):
            return self._fields[request_field]
        return _lookup(self.base, REQUEST_FIELD_PATHS[request_field])


def _chunk_overlap(choice: _Choice, chunk_size: int, base: Mapping[str, Any]) -> int:
    """The overlap asked for; for a chunk_size set without one, the preset's overlap/size ratio (see above)."""
    if choice.requested("chunk_overlap") or not choice.requested("chunk_size"):
        chunk_overlap = _integer("chunk_overlap", choice.value("chunk_overlap"), minimum=0)
    else:
        base_size = int(base["chunk"]["max_tokens"])
        base_overlap = int(base["chunk"]["overlap"])
        chunk_overlap = min(chunk_size * base_overlap // base_size, chunk_size - 1)
    if chunk_overlap >= chunk_size:
        raise InvalidRunConfig(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    return chunk_overlap


def _checked_tfidf_shape(tfidf: Mapping[str, Any]) -> tuple[tuple[int, int], float, str | None]:
    """The preset's n-gram range, max_df and stop words, when they can run together."""
    ngram_range = tuple(tfidf["ngram_range"])
    if len(ngram_range) != 2 or not 1 <= ngram_range[0] <= ngram_range[1]:
        raise InvalidRunConfig(f"semantic.tfidf.ngram_range must be [low, high], 1 <= low <= high: {ngram_range}")
    max_df = tfidf["max_df"]
    if isinstance(max_df, bool) or not isinstance(max_df, (int, float)) or not 0.0 < max_df <= 1.0:
        raise InvalidRunConfig(f"semantic.tfidf.max_df must be a share of chunks in (0, 1], got {max_df!r}")
    stop_words = tfidf["stop_words"]
    if stop_words not in (None, "english"):
        raise InvalidRunConfig(f"semantic.tfidf.stop_words must be 'english' or null, got {stop_words!r}")
    return (int(ngram_range[0]), int(ngram_range[1])), float(max_df), stop_words


def _lookup(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = config
    for key in path:
        value = value[key]
    return value


def _integer(name: str, value: Any, *, minimum: int) -> int:
    # bool is an int subclass; True as a chunk size is a client mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRunConfig(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise InvalidRunConfig(f"{name} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRunConfig(f"{name} must be true or false, got {value!r}")
    return value


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRunConfig(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
