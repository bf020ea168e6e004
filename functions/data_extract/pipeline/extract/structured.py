"""JSON and NDJSON (JSON Lines) -> readable ``path: value`` lines, one block per top-level item.

A top-level object gives one block per key, a top-level array one block per element, an NDJSON file one block
per line; a scalar document gives one block. Inside a block every leaf is a line ``a.b[0].c: value`` (keys that
are not plain identifiers are quoted: ``a["first name"]``); empty objects and arrays appear as ``{}`` / ``[]`` so
structure is not silently lost. Flattening is iterative, so deeply nested documents cannot exhaust the stack.

Invalid or truncated JSON is ``CORRUPT`` with the line, column and character offset of the parse error. NDJSON is
recognised by the ``.ndjson``/``.jsonl`` name or when a document parses as one value per line.
"""

from __future__ import annotations

import json
import re

from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.textcodec import decode_text
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ldjson")


def _key_path(prefix: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{json.dumps(key, ensure_ascii=False)}]"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def flatten(value: object, prefix: str = "") -> list[str]:
    """``path: value`` lines for every leaf under ``value``, in document order."""
    lines: list[str] = []
    stack: list[tuple[str, object]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if not node:
                lines.append(f"{path}: {{}}" if path else "{}")
                continue
            stack.extend((_key_path(path, str(k)), v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            if not node:
                lines.append(f"{path}: []" if path else "[]")
                continue
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node))))
        else:
            text = _scalar(node)
            lines.append(f"{path}: {text}" if path else text)
    return lines


def _parse_error(exc: json.JSONDecodeError, line_offset: int = 0) -> ExtractionError:
    return ExtractionError(
        ErrorType.CORRUPT,
        f"Invalid JSON at line {exc.lineno + line_offset}, column {exc.colno} (character {exc.pos}): {exc.msg}.",
        line=exc.lineno + line_offset,
        column=exc.colno,
        position=exc.pos,
    )


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ExtractionError(ErrorType.CORRUPT, "The JSON document is nested too deeply to read.") from exc


def _ndjson_values(text: str) -> list[tuple[int, object]]:
    values: list[tuple[int, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append((number, _loads(line)))
        except json.JSONDecodeError as exc:
            raise _parse_error(exc, number - 1) from exc
    return values


def extract_json(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    text, encoding = decode_text(data)
    text = text.lstrip("\ufeff")
    limit = TextLimit(options)
    blocks: list[Block] = []
    if not text.strip():
        return Document(format="json", blocks=[], metadata={"encoding": encoding})

    values: list[tuple[int, object]] | None = None
    document: object = None
    if filename.lower().endswith(_NDJSON_SUFFIXES):
        values = _ndjson_values(text)
    else:
        try:
            document = _loads(text)
        except json.JSONDecodeError as exc:
            # "Extra data" after a complete first value, on a multi-line file, is the signature of JSON Lines.
            if exc.msg != "Extra data" or "\n" not in text.strip():
                raise _parse_error(exc) from exc
            try:
                values = _ndjson_values(text)
            except ExtractionError:
                raise _parse_error(exc) from exc

    if values is not None:
        for line_number, value in values:
            body = "\n".join(flatten(value))
            blocks.append(Block(kind="paragraph", text=limit.add(body), meta={"line": line_number}))
        return Document(format="ndjson", blocks=blocks, metadata={"encoding": encoding, "record_count": len(values)})

    if isinstance(document, dict):
        for key, value in document.items():
            body = "\n".join(flatten(value, _key_path("", str(key))))
            blocks.append(Block(kind="paragraph", text=limit.add(body), section=str(key), meta={"key": str(key)}))
        top = {"top_level": "object", "key_count": len(document)}
    elif isinstance(document, list):
        for index, value in enumerate(document):
            body = "\n".join(flatten(value, f"[{index}]"))
            blocks.append(Block(kind="paragraph", text=limit.add(body), meta={"index": index}))
        top = {"top_level": "array", "item_count": len(document)}
    else:
        blocks.append(Block(kind="paragraph", text=limit.add(_scalar(document))))
        top = {"top_level": "scalar"}
    return Document(format="json", blocks=blocks, metadata={"encoding": encoding, **top})
