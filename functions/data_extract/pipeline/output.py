"""Output stage: render one file's chunks as JSON, TXT or CSV files.

Pure: chunks and options in, ``OutputFile`` (a name relative to the job's
outputs folder, bytes, content type) out. The caller stores them.

Names never collide. The source's own extension is kept, so ``sub/a.pdf`` gives
``sub/a.pdf.json`` and ``sub/a.docx`` gives ``sub/a.docx.json``:

=========================  ===================================================
layout                     files
=========================  ===================================================
default                    ``<source_path>.<ext>``
``per_chunk``              ``<source_path>.chunks/<chunk_id>.<ext>``
``organize`` by_document   ``by_document/<source_path>/<chunk_id>.<ext>``
``organize`` by_entity     ``by_entity/<entity id>/<chunk_id>.<ext>`` (a chunk
                           with several entities is written under each;
                           ``no-entity`` holds chunks without one)
``organize`` flat          ``flat/<chunk_id>.<ext>``
=========================  ===================================================

``organize`` also writes ``<source_path>.manifest.json`` (``{strategy,
source_file, chunk_count, files}``), one per source so sources never overwrite
each other's manifest. Chunk ids embed a digest of the source, so chunk files
of different sources never share a name either. Every file, including a single
chunk's, is a complete document of its format (JSON envelope, CSV with header,
TXT with delimiter), so one reader handles them all.

Formats keep the field names of the system this replaces:

* JSON (UTF-8, no BOM): ``{metadata: {chunk_count, processing_version,
  processing_timestamp, configuration: {chunk_size, overlap},
  source_documents}, chunks: [...], content}``; each chunk carries ``id``,
  ``text``, ``document_id``, ``position_index``, ``token_count``,
  ``word_count``, ``entities``, ``section_context``, ``quality_score``,
  ``readability_scores``, ``metadata``, ``chunk_id`` and ``quality.overall``.
* TXT (UTF-8 with BOM): each chunk is preceded by the delimiter with ``{{n}}``
  replaced by its 1-based number (``001``); ``include_metadata`` adds
  ``Source:``, ``Pages:``/``Sheet:``/``Slide:`` when known, ``Entities:`` when
  any, and ``Quality:`` lines.
* CSV (UTF-8 with BOM): ``chunk_id, source_file, section_context, chunk_text,
  entity_tags, quality_score, word_count, token_count, processing_version,
  warnings, pages``.

Only ``processing_timestamp`` (passed in) makes two runs' output differ.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from data_extract import __version__
from data_extract.pipeline.entities import entity_tags, find_entities
from data_extract.pipeline.quality import chunk_quality
from data_extract.pipeline.tokens import TOKEN_DEFINITION
from data_extract.pipeline.types import Chunk, Document

OUTPUT_FORMATS = ("json", "txt", "csv")
STRATEGIES = ("by_document", "by_entity", "flat")
DEFAULT_DELIMITER = "━━━ CHUNK {{n}} ━━━"
NO_ENTITY_FOLDER = "no-entity"
CHUNKER_VERSION = "2.0.0"

CSV_HEADER = [
    "chunk_id",
    "source_file",
    "section_context",
    "chunk_text",
    "entity_tags",
    "quality_score",
    "word_count",
    "token_count",
    "processing_version",
    "warnings",
    "pages",
]

_CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
_BOM = "\ufeff"
_UNSAFE_PATH_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")

# document_type, a coarse class clients filter on: spreadsheets and delimited files are
# matrices, images are images, structured exports and mail are exports, and
# everything written for reading is a report.
_DOCUMENT_TYPES = {
    **dict.fromkeys(("xlsx", "xls", "xlsm", "ods", "csv", "tsv"), "matrix"),
    **dict.fromkeys(("png", "jpeg", "tiff", "bmp", "gif", "webp"), "image"),
    **dict.fromkeys(("json", "ndjson", "eml", "msg"), "export"),
}


@dataclass(frozen=True)
class OutputOptions:
    output_format: str = "json"
    include_metadata: bool = False
    per_chunk: bool = False
    organize: bool = False
    strategy: str | None = None
    delimiter: str = DEFAULT_DELIMITER
    chunk_size: int = 512
    overlap: int = 64
    table_csv: bool = False  # also write <source>.tables/<table_id>.csv, one file per table

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {self.output_format!r}")
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.organize and self.strategy is None:
            raise ValueError("organize needs a strategy (by_document, by_entity or flat)")


@dataclass(frozen=True)
class OutputFile:
    name: str  # relative to the job's outputs folder, "/"-separated
    data: bytes
    content_type: str


def render_outputs(
    chunks: list[Chunk],
    *,
    document: Document,
    source_path: str,
    file_hash: str,
    options: OutputOptions,
    processing_timestamp: str,
) -> list[OutputFile]:
    """Render ``chunks`` of the file at ``source_path`` (relative to the job's input root)."""
    records = chunk_records(
        chunks,
        document=document,
        source_path=source_path,
        file_hash=file_hash,
        options=options,
        processing_timestamp=processing_timestamp,
    )
    return render_records(
        records,
        document=document,
        source_path=source_path,
        file_hash=file_hash,
        options=options,
        processing_timestamp=processing_timestamp,
    )


def chunk_records(
    chunks: list[Chunk],
    *,
    document: Document,
    source_path: str,
    file_hash: str,
    options: OutputOptions,
    processing_timestamp: str,
) -> list[dict[str, Any]]:
    """The JSON object of each chunk (what every format renders), as the run's chunk record keeps them."""
    context = _RenderContext(document, _safe_relative_path(source_path), file_hash, options, processing_timestamp)
    return [context.record(chunk) for chunk in chunks]


def render_records(
    records: list[dict[str, Any]],
    *,
    document: Document,
    source_path: str,
    file_hash: str,
    options: OutputOptions,
    processing_timestamp: str,
) -> list[OutputFile]:
    """The output files of one source from its chunk records: the same names and bytes ``render_outputs``
    gives, so the semantic stage can write a file's outputs again with quality added (``document`` needs only
    its ``format`` and ``warnings`` here)."""
    source = _safe_relative_path(source_path)
    context = _RenderContext(document, source, file_hash, options, processing_timestamp)
    ext = options.output_format

    table_files = _table_csv_files(document, source) if options.table_csv else []
    if options.organize:
        return _organized(records, context) + table_files
    if options.per_chunk:
        return [context.file(f"{source}.chunks/{record['id']}.{ext}", [record]) for record in records] + table_files
    return [context.file(f"{source}.{ext}", records, whole_file=True), *table_files]


def _table_csv_files(document: Document, source: str) -> list[OutputFile]:
    from data_extract.pipeline.tables import assign_table_ids, table_blocks, table_csv

    if any(block.table is not None and block.table.table_id is None for block in table_blocks(document)):
        assign_table_ids(document)
    tables = [block.table for block in table_blocks(document) if block.table is not None]
    return [
        OutputFile(
            name=f"{source}.tables/{table.table_id}.csv",
            data=(_BOM + table_csv(table)).encode("utf-8"),
            content_type=_CONTENT_TYPES["csv"],
        )
        for table in tables
    ]


def document_id_for(source_path: str, file_hash: str) -> str:
    """A stable id for one version of one source file."""
    digest = hashlib.sha256(f"{source_path}\0{file_hash}".encode()).hexdigest()[:16]
    return f"doc_{digest}"


class _RenderContext:
    def __init__(
        self, document: Document, source: str, file_hash: str, options: OutputOptions, processing_timestamp: str
    ) -> None:
        self.document = document
        self.source = source
        self.file_hash = file_hash
        self.options = options
        self.timestamp = processing_timestamp
        self.document_id = document_id_for(source, file_hash)
        self.document_type = _DOCUMENT_TYPES.get(document.format, "report")
        self.config_snapshot = {
            "chunk_size": options.chunk_size,
            "overlap": options.overlap,
            "token_definition": TOKEN_DEFINITION,
            "chunker_version": CHUNKER_VERSION,
        }

    def record(self, chunk: Chunk) -> dict[str, Any]:
        """The JSON object of one chunk; TXT and CSV read their fields from it."""
        meta = chunk.metadata
        entities = meta.get("entities")
        if entities is None:
            entities = find_entities(chunk.text)
        tags = meta.get("entity_tags") or entity_tags(entities)
        quality = meta.get("quality") or chunk_quality(chunk.text, ocr_confidence=meta.get("ocr_confidence"))
        readability = quality.get("readability", {})
        metadata: dict[str, Any] = {
            "source_file": self.source,
            "file_hash": self.file_hash,
            "processing_timestamp": self.timestamp,
            "tool_version": __version__,
            "document_type": self.document_type,
            "document_subtype": self.document.format,
            "quality_scores": quality.get("components", {}),
            "quality_flags": list(quality.get("flags", [])),
            "entity_tags": tags,
            "section_context": chunk.section_context,
            "config_snapshot": self.config_snapshot,
        }
        # Provenance and table renderings as the chunker recorded them.
        for key, value in meta.items():
            if key not in ("entities", "entity_tags", "quality", "section_context"):
                metadata[key] = value
        return {
            "id": chunk.id,
            "text": chunk.text,
            "document_id": self.document_id,
            "position_index": chunk.position_index,
            "token_count": chunk.token_count,
            "word_count": chunk.word_count,
            "entities": entities,
            "section_context": chunk.section_context,
            "quality_score": quality.get("overall", 0.0),
            "readability_scores": readability,
            "metadata": metadata,
            "chunk_id": chunk.id,
            "quality": {"overall": quality.get("overall", 0.0), "flags": list(quality.get("flags", []))},
        }

    def file(self, name: str, records: list[dict[str, Any]], *, whole_file: bool = False) -> OutputFile:
        fmt = self.options.output_format
        if fmt == "json":
            data = self._json(records, whole_file=whole_file)
        elif fmt == "txt":
            data = self._txt(records)
        else:
            data = self._csv(records)
        return OutputFile(name=name, data=data, content_type=_CONTENT_TYPES[fmt])

    def _json(self, records: list[dict[str, Any]], *, whole_file: bool = False) -> bytes:
        payload: dict[str, Any] = {
            "metadata": {
                "chunk_count": len(records),
                "processing_version": __version__,
                "processing_timestamp": self.timestamp,
                "configuration": {"chunk_size": self.options.chunk_size, "overlap": self.options.overlap},
                "source_documents": [self.source],
            },
            "chunks": records,
            "content": "\n\n".join(r["text"] for r in records),
        }
        if whole_file:
            # The file's tables as data (cells with spans); table chunks name theirs by table_id.
            from data_extract.pipeline.tables import tables_payload

            payload["tables"] = tables_payload(self.document)
        # No indent: json's C encoder only runs without one (3x faster on large files),
        # and the output is ~20% smaller.
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _txt(self, records: list[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        out.write(_BOM)
        for position, record in enumerate(records):
            number = record["position_index"] + 1
            out.write("\n\n" if position else "")
            out.write(self.options.delimiter.replace("{{n}}", f"{number:03d}"))
            out.write("\n\n")
            if self.options.include_metadata:
                out.write("".join(f"{line}\n" for line in self._txt_metadata_lines(record)))
                out.write("\n")
            out.write(record["text"])
        if records:
            out.write("\n")
        return out.getvalue().encode("utf-8")

    def _txt_metadata_lines(self, record: dict[str, Any]) -> list[str]:
        meta = record["metadata"]
        lines = [f"Source: {self.source}"]
        if meta.get("pages"):
            lines.append(f"Pages: {_compact_ranges(meta['pages'])}")
        if meta.get("sheet"):
            lines.append(f"Sheet: {meta['sheet']}")
        if meta.get("slides"):
            lines.append(f"Slide: {_compact_ranges(meta['slides'])}")
        if meta["entity_tags"]:
            lines.append(f"Entities: {'; '.join(meta['entity_tags'])}")
        flag = record.get("quality_flag")
        lines.append(f"Quality: {record['quality_score']:.2f}" + (f" ({flag})" if flag else ""))
        return lines

    def _csv(self, records: list[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        out.write(_BOM)
        writer = csv.writer(out)
        # The semantic stage's quality flag, when it ran, as one more column at the end.
        flagged = any("quality_flag" in record for record in records)
        writer.writerow(CSV_HEADER + (["quality_flag"] if flagged else []))
        warnings = "; ".join(self.document.warnings)
        for record in records:
            meta = record["metadata"]
            writer.writerow(
                [
                    record["id"],
                    self.source,
                    record["section_context"],
                    record["text"],
                    "; ".join(meta["entity_tags"]),
                    f"{record['quality_score']:.4f}",
                    record["word_count"],
                    record["token_count"],
                    __version__,
                    warnings,
                    _compact_ranges(meta.get("pages") or []),
                ]
                + ([record.get("quality_flag", "")] if flagged else [])
            )
        return out.getvalue().encode("utf-8")


def _organized(records: list[dict[str, Any]], context: _RenderContext) -> list[OutputFile]:
    options = context.options
    ext = options.output_format
    files: list[OutputFile] = []
    for record in records:
        if options.strategy == "by_document":
            folders = [f"by_document/{context.source}"]
        elif options.strategy == "by_entity":
            ids = record["metadata"]["entity_tags"] or [NO_ENTITY_FOLDER]
            folders = [f"by_entity/{_path_segment(entity_id)}" for entity_id in ids]
        else:
            folders = ["flat"]
        for folder in folders:
            files.append(context.file(f"{folder}/{record['id']}.{ext}", [record]))
    manifest = {
        "strategy": options.strategy,
        "source_file": context.source,
        "chunk_count": len(records),
        "processing_timestamp": context.timestamp,
        "files": [f.name for f in files],
    }
    files.append(
        OutputFile(
            name=f"{context.source}.manifest.json",
            data=json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"),
            content_type=_CONTENT_TYPES["json"],
        )
    )
    return files


def _safe_relative_path(source_path: str) -> str:
    path = PurePosixPath(source_path.replace("\\", "/"))
    if not source_path.strip() or path.is_absolute() or any(part in ("..", "") for part in path.parts):
        raise ValueError(f"source_path must be a relative path inside the job's inputs, got {source_path!r}")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise ValueError(f"source_path must name a file, got {source_path!r}")
    return "/".join(parts)


def _path_segment(value: str) -> str:
    cleaned = _UNSAFE_PATH_CHARACTERS.sub("-", value).strip(".-")
    return cleaned or NO_ENTITY_FOLDER


def _compact_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    ranges: list[str] = []
    values = sorted(set(numbers))
    index = 0
    while index < len(values):
        end = index
        while end + 1 < len(values) and values[end + 1] == values[end] + 1:
            end += 1
        ranges.append(str(values[index]) if end == index else f"{values[index]}-{values[end]}")
        index = end + 1
    return ", ".join(ranges)
