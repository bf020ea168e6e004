"""Chunks made from the corpus's real documents, for the semantic stage's tests and benchmark.

The documents go through the project's own extract -> normalize -> chunk path (no isolation: they are known
files). ``synthetic_chunks`` then draws as many distinct chunks as asked from the pooled sentences, seeded, so a
100,000-chunk corpus has real vocabulary and realistic term frequencies without 100,000 documents.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

from data_extract.pipeline.semantic.types import SemanticChunk

# Prose-heavy documents of several formats and subjects.
SOURCE_FILES = (
    "docx/handbook-872p.docx",
    "pdf/audit-report-large.pdf",
    "pdf/layout-parser-paper-fast.pdf",
    "pdf/nemotron_multipage.pdf",
    "text/norwich-city.txt",
    "text/wiki.md",
    "text/UDHR_first_article_all.txt",
    "pptx/fake-power-point-many-pages.pptx",
    "pdf/amt_handbook_sample.pdf",
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=4)
def corpus_chunks(corpus: Path, chunk_size: int = 256) -> tuple[SemanticChunk, ...]:
    """The real chunks of SOURCE_FILES (those present), as the worker would cut them."""
    from data_extract.pipeline.chunk import chunk_document
    from data_extract.pipeline.detect import detect_format
    from data_extract.pipeline.extract import get_extractor
    from data_extract.pipeline.normalize import normalize_document
    from data_extract.pipeline.types import ExtractionError, ExtractOptions

    out: list[SemanticChunk] = []
    for rel in SOURCE_FILES:
        path = corpus / rel
        if not path.is_file():
            continue
        data = path.read_bytes()
        fmt = detect_format(data, path.name)
        try:
            document = normalize_document(
                get_extractor(fmt)(data, filename=path.name, options=ExtractOptions(ocr=False, max_pages=400))
            )
        except ExtractionError:  # an image-only file without OCR here: it has no text to give
            continue
        for chunk in chunk_document(
            document, source_key=rel.replace("/", "_"), chunk_size=chunk_size, overlap=chunk_size // 8
        ):
            out.append(SemanticChunk(chunk.id, chunk.text, rel, chunk.position_index))
    return tuple(out)


def corpus_sentences(corpus: Path) -> list[str]:
    sentences: list[str] = []
    for chunk in corpus_chunks(corpus):
        for raw in _SENTENCE.split(chunk.text):
            sentence = " ".join(raw.split())
            if len(sentence.split()) >= 5:
                sentences.append(sentence)
    return list(dict.fromkeys(sentences))  # distinct, in order


def synthetic_chunks(corpus: Path, count: int, *, seed: int = 7) -> list[SemanticChunk]:
    """``count`` chunks, each a run of two or three consecutive corpus sentences from a random start (so chunks
    read like documents and share topics) with four to nine sentences from elsewhere mixed in (so that, like the
    chunks of distinct documents, few pairs are near-duplicates)."""
    pool = corpus_sentences(corpus)
    rng = random.Random(seed)
    chunks = []
    for index in range(count):
        run = rng.randint(2, 3)
        start = rng.randrange(0, max(1, len(pool) - run))
        picked = pool[start : start + run]
        for _ in range(rng.randint(4, 9)):
            picked.insert(rng.randrange(len(picked) + 1), pool[rng.randrange(len(pool))])
        chunks.append(
            SemanticChunk(f"syn_{index:06d}", " ".join(picked), f"synthetic/{index // 50:05d}.txt", index % 50)
        )
    return chunks
