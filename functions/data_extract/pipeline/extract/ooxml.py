"""Safe opening of ZIP-based office packages (DOCX, XLSX, PPTX, ODF, EPUB) and secure XML parsing.

Every ZIP container goes through ``open_package``, which refuses zip bombs before anything is inflated:

- the sum of the declared uncompressed sizes must stay within ``options.max_unzipped_bytes``;
- the container's expansion ratio (declared total / container bytes) must stay within ``options.max_zip_ratio``
  once the declared total is large enough to matter (``RATIO_FLOOR_BYTES``): a 40 KB package of repetitive XML
  legitimately inflates 300x to 12 MB, which harms nobody;
- the number of entries is bounded (``MAX_ENTRIES``), since a central directory of millions of entries costs memory
  before a single byte is inflated;
- reads are streamed against the declared size of the member and the remaining budget, so a header that lies
  about a member's size cannot make us inflate more than the budget.

XML parts are parsed with entity resolution, DTD loading and network access off and without ``huge_tree``.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from data_extract.pipeline.ole import OLE_MAGIC, is_encrypted_package
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions

MAX_ENTRIES = 50_000
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
_READ_CHUNK = 1 << 20

# What zipfile raises on damaged containers (NotImplementedError: a mangled "version needed" or compression field).
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OSError,
    NotImplementedError,
)

PACKAGE_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


@dataclass(frozen=True)
class Relationship:
    id: str
    type: str
    target: str  # resolved part name inside the package (or the raw URL when external)
    external: bool

    def is_type(self, suffix: str) -> bool:
        """True when the relationship type ends with ``/suffix``: works for Transitional and Strict URIs alike."""
        return self.type.endswith("/" + suffix)


def secure_xml_parser(*, recover: bool = False) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def parse_xml(data: bytes, *, part: str, recover: bool = False) -> etree._Element:
    """Parse one XML part; a malformed part becomes ``CORRUPT`` naming the part."""
    try:
        root = etree.fromstring(data, secure_xml_parser(recover=recover))
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The part '{part}' is not well-formed XML ({exc}).") from exc
    if root is None:
        raise ExtractionError(ErrorType.CORRUPT, f"The part '{part}' holds no XML content.")
    return root


def local_name(tag: object) -> str:
    """Tag without its namespace; comments and processing instructions give ''."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def resolve_target(source_part: str, target: str) -> str:
    """Resolve a relationship target against the part that holds the relationship (OPC rules)."""
    target = unquote(target.replace("\\", "/"))
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    base = posixpath.dirname(source_part)
    return posixpath.normpath(posixpath.join(base, target)).lstrip("/")


def rels_part_for(part: str) -> str:
    """``word/document.xml`` -> ``word/_rels/document.xml.rels``; the package itself ('') -> ``_rels/.rels``."""
    directory, name = posixpath.split(part)
    return posixpath.join(directory, "_rels", f"{name}.rels")


def ole_container_error(data: bytes, format_label: str) -> ExtractionError | None:
    """An OLE2 container where a ZIP package was expected is either an encrypted OOXML file or a legacy file."""
    if not data.startswith(OLE_MAGIC):
        return None
    try:
        import olefile

        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            encrypted = is_encrypted_package(ole)
    except Exception:
        encrypted = False
    if encrypted:
        return ExtractionError(
            ErrorType.ENCRYPTED,
            f"This {format_label} file is password-protected (encrypted package); remove the password and resend.",
        )
    return ExtractionError(
        ErrorType.CORRUPT,
        f"This file is a legacy binary Office document (OLE), not a {format_label} package.",
    )


def check_zip_limits(zf: zipfile.ZipFile, container_bytes: int, options: ExtractOptions, format_label: str) -> int:
    """Refuse zip bombs from the central directory alone. Returns the declared uncompressed total."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ExtractionError(
            ErrorType.ZIP_BOMB,
            f"The {format_label} container holds {len(infos)} entries (limit {MAX_ENTRIES}).",
        )
    declared_total = sum(info.file_size for info in infos)
    if declared_total > options.max_unzipped_bytes:
        raise ExtractionError(
            ErrorType.ZIP_BOMB,
            f"The {format_label} container would expand to {declared_total} bytes "
            f"(limit {options.max_unzipped_bytes}).",
            declared_bytes=declared_total,
        )
    ratio = declared_total / max(container_bytes, 1)
    if declared_total > RATIO_FLOOR_BYTES and ratio > options.max_zip_ratio:
        raise ExtractionError(
            ErrorType.ZIP_BOMB,
            f"The {format_label} container expands {ratio:.0f} times its size (limit {options.max_zip_ratio}).",
            ratio=round(ratio, 1),
        )
    return declared_total


def inspect_zip(data: bytes, options: ExtractOptions, format_label: str) -> list[str]:
    """Validate a ZIP container (bomb limits, readability) without inflating it; returns its member names.

    For parsers that read the ZIP themselves (calamine), so the limits apply before they start.
    """
    ole_error = ole_container_error(data, format_label)
    if ole_error is not None:
        raise ole_error
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_limits(zf, len(data), options, format_label)
            return [info.filename for info in zf.infolist()]
    except ExtractionError:
        raise
    except ZIP_ERRORS as exc:
        raise ExtractionError(
            ErrorType.CORRUPT, f"The {format_label} file is not a readable ZIP package ({exc})."
        ) from exc


class Package:
    """A validated ZIP package with budgeted reads, relationship lookup and secure XML parsing."""

    def __init__(self, data: bytes, options: ExtractOptions, format_label: str) -> None:
        ole_error = ole_container_error(data, format_label)
        if ole_error is not None:
            raise ole_error
        self.format_label = format_label
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except ZIP_ERRORS as exc:
            raise ExtractionError(
                ErrorType.CORRUPT, f"The {format_label} file is not a readable ZIP package ({exc})."
            ) from exc
        try:
            check_zip_limits(self._zip, len(data), options, format_label)
        except ExtractionError:
            self._zip.close()
            raise
        # Part names are case-insensitive in OPC; some writers also use backslashes.
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if not info.is_dir():
                self._infos.setdefault(info.filename.replace("\\", "/").lstrip("/").lower(), info)
        self._budget = options.max_unzipped_bytes
        self._rels_cache: dict[str, list[Relationship]] = {}

    # -- context manager -------------------------------------------------------------------------------------------
    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    # -- parts -------------------------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [info.filename.replace("\\", "/").lstrip("/") for info in self._infos.values()]

    def has(self, part: str) -> bool:
        return part.lower() in self._infos

    def read(self, part: str) -> bytes:
        """Inflate one member, streaming against its declared size and the package budget."""
        info = self._infos.get(part.lower())
        if info is None:
            raise ExtractionError(
                ErrorType.CORRUPT, f"The {self.format_label} package is missing its required part '{part}'."
            )
        limit = min(info.file_size, self._budget)
        chunks: list[bytes] = []
        total = 0
        try:
            with self._zip.open(info) as stream:
                while True:
                    chunk = stream.read(_READ_CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limit:
                        raise ExtractionError(
                            ErrorType.ZIP_BOMB,
                            f"The part '{part}' inflates beyond its declared size or the package budget.",
                        )
                    chunks.append(chunk)
        except ExtractionError:
            raise
        except RuntimeError as exc:
            if "encrypted" in str(exc).lower():
                raise ExtractionError(
                    ErrorType.ENCRYPTED, f"The part '{part}' of the {self.format_label} package is encrypted."
                ) from exc
            raise ExtractionError(ErrorType.CORRUPT, f"The part '{part}' cannot be read ({exc}).") from exc
        except ZIP_ERRORS as exc:
            raise ExtractionError(ErrorType.CORRUPT, f"The part '{part}' cannot be inflated ({exc}).") from exc
        self._budget -= total
        return b"".join(chunks)

    def read_optional(self, part: str) -> bytes | None:
        return self.read(part) if self.has(part) else None

    def xml(self, part: str, *, recover: bool = False) -> etree._Element:
        return parse_xml(self.read(part), part=part, recover=recover)

    def xml_optional(self, part: str, *, recover: bool = False) -> etree._Element | None:
        return self.xml(part, recover=recover) if self.has(part) else None

    # -- relationships -----------------------------------------------------------------------------------------------
    def relationships(self, part: str) -> list[Relationship]:
        """Relationships of ``part`` ('' for the package), in file order; a missing .rels part gives []."""
        if part in self._rels_cache:
            return self._rels_cache[part]
        rels_name = "_rels/.rels" if part == "" else rels_part_for(part)
        rels: list[Relationship] = []
        root = self.xml_optional(rels_name, recover=True)
        if root is not None:
            for el in root:
                if local_name(el.tag) != "Relationship":
                    continue
                target = el.get("Target") or ""
                external = (el.get("TargetMode") or "").lower() == "external"
                rels.append(
                    Relationship(
                        id=el.get("Id") or "",
                        type=el.get("Type") or "",
                        target=target if external else resolve_target(part, target),
                        external=external,
                    )
                )
        self._rels_cache[part] = rels
        return rels

    def related(self, part: str, rel_type_suffix: str) -> list[Relationship]:
        return [r for r in self.relationships(part) if not r.external and r.is_type(rel_type_suffix)]

    def relationship_targets(self, part: str) -> dict[str, str]:
        """Relationship id -> resolved internal target for ``part``."""
        return {r.id: r.target for r in self.relationships(part) if not r.external}

    def main_part(self, fallback: str) -> str:
        """The package's officeDocument part (Transitional or Strict), or ``fallback`` when the rels omit it."""
        for rel in self.related("", "officeDocument"):
            if self.has(rel.target):
                return rel.target
        if self.has(fallback):
            return fallback
        raise ExtractionError(
            ErrorType.CORRUPT, f"The {self.format_label} package is missing its required part '{fallback}'."
        )


def open_package(data: bytes, options: ExtractOptions, format_label: str) -> Package:
    return Package(data, options, format_label)


def core_properties(package: Package) -> dict[str, str]:
    """Title, subject, creator and dates from docProps/core.xml when present and readable."""
    try:
        root = package.xml_optional("docProps/core.xml", recover=True)
    except ExtractionError:
        return {}
    if root is None:
        return {}
    wanted = {"title", "subject", "creator", "created", "modified", "lastModifiedBy"}
    props: dict[str, str] = {}
    for el in root:
        name = local_name(el.tag)
        if name in wanted and el.text and el.text.strip():
            props[name] = el.text.strip()
    return props
