"""Images (PNG, JPEG, TIFF, BMP, GIF, WebP): decoded with Pillow, text by OCR.

Each frame goes to ``ocr.recognise_page``, which turns, enlarges and straightens
it as needed; its provenance (confidence, rotation, skew, scale, segmentation
mode) is kept on the frame's block, and frames read with low confidence are
named in the warnings.

Every frame of a multi-page TIFF is a page (page number = frame number); GIF and
WebP animations are read from their first frame only (later frames of an
animation are variations of the first, not more pages). Without Tesseract, or
with OCR disabled, an image has no extractable text: ``needs_ocr``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

if TYPE_CHECKING:
    from PIL import Image

# Pillow's own decompression-bomb threshold (about 89 megapixels): a larger frame
# is refused before it is decoded.
MAX_IMAGE_PIXELS = 89_478_485
# Frames beyond this are scaled down before OCR (tesseract's memory grows with pixels).
# Enlarging frames with small text is up to the OCR stage, which measures the text.
OCR_MAX_PIXELS = 40_000_000
OCR_FRAME_TIMEOUT_S = 45.0
OCR_SAFETY_MARGIN_S = 3.0

_FORMAT_KEYS = {
    "PNG": "png",
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "TIFF": "tiff",
    "BMP": "bmp",
    "GIF": "gif",
    "WEBP": "webp",
}
_MULTI_PAGE_FORMATS = frozenset({"TIFF"})


def extract_image(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    """OCR an image file into one ``ocr`` block per page (frame)."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        # Size is checked explicitly below, with a clearer message than the warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ExtractionError(
                ErrorType.TOO_LARGE,
                f"The image is too large to process (over {MAX_IMAGE_PIXELS // 1_000_000} megapixels).",
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ExtractionError(ErrorType.CORRUPT, "The image is damaged or not a supported image format.") from exc
        try:
            return _extract(image, options)
        finally:
            image.close()


@dataclass
class _FramesRead:
    """What OCR of an image's frames found, frame by frame (page numbers are 1-based frame numbers)."""

    warnings: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    failed_pages: list[int] = field(default_factory=list)
    timed_out_pages: list[int] = field(default_factory=list)
    low_confidence_pages: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    used_chars: int = 0


def _extract(image: Image.Image, options: ExtractOptions) -> Document:
    from data_extract.pipeline import ocr

    fmt = _FORMAT_KEYS.get(image.format or "")
    if fmt is None:
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, f"Unsupported image type: {image.format or 'unknown'}.")
    frame_count = _frame_count(image)
    if frame_count > options.max_pages:
        raise ExtractionError(
            ErrorType.TOO_MANY_PAGES,
            f"The image has {frame_count} pages; the limit is {options.max_pages}.",
            page_count=frame_count,
            max_pages=options.max_pages,
        )
    width, height = image.size
    _check_size(width, height)
    metadata: dict[str, object] = {"page_count": frame_count, "width": width, "height": height}
    if not options.ocr:
        raise ExtractionError(
            ErrorType.NEEDS_OCR, "The file is an image; its text needs OCR, which is disabled for this run."
        )
    if not ocr.tesseract_available():
        raise ExtractionError(
            ErrorType.NEEDS_OCR, "The file is an image; its text needs OCR, which is not available (no Tesseract)."
        )

    languages = ocr.resolve_languages(options.ocr_languages)
    read = _FramesRead()
    if languages.missing:
        read.warnings.append(
            f"OCR languages not installed and skipped: {', '.join(languages.missing)}; using {languages.argument}."
        )
    _recognise_frames(image, frame_count, languages.argument, options, read)
    _report_unread_frames(read)
    metadata.update(
        {
            "ocr_pages": read.ocr_pages,
            "needs_ocr_pages": sorted(read.failed_pages + read.timed_out_pages),
            "ocr_confidence": round(sum(read.confidences) / len(read.confidences), 4),
            "low_confidence_pages": read.low_confidence_pages,
        }
    )
    return Document(format=fmt, blocks=read.blocks, metadata=metadata, warnings=read.warnings)


def _recognise_frames(
    image: Image.Image, frame_count: int, languages: str, options: ExtractOptions, read: _FramesRead
) -> None:
    """OCR every frame within the time budget; frames left when it runs out count as timed out."""
    from data_extract.pipeline import guard

    for index in range(frame_count):
        remaining = guard.remaining_time_s()
        timeout = OCR_FRAME_TIMEOUT_S
        if remaining is not None:
            timeout = min(timeout, remaining - OCR_SAFETY_MARGIN_S)
            if timeout < 5.0:
                read.timed_out_pages += list(range(index + 1, frame_count + 1))
                read.warnings.append("OCR stopped early: the extraction time budget ran out.")
                break
        _recognise_frame(image, index, languages, timeout, options, read)


def _recognise_frame(
    image: Image.Image, index: int, languages: str, timeout: float, options: ExtractOptions, read: _FramesRead
) -> None:
    from data_extract.pipeline import ocr

    frame, dpi = _prepared_frame(image, index)
    try:
        reading = ocr.recognise_page(frame, languages, timeout, dpi=dpi)
    except ocr.OcrTimeout:
        read.timed_out_pages.append(index + 1)
        return
    except ocr.OcrError:
        read.failed_pages.append(index + 1)
        return
    finally:
        frame.close()
    read.ocr_pages.append(index + 1)
    text = reading.text
    if not text.strip():
        return
    if reading.low_confidence:
        read.low_confidence_pages.append(index + 1)
    read.used_chars += len(text)
    if read.used_chars > options.max_chars:
        raise ExtractionError(
            ErrorType.TOO_MUCH_TEXT,
            f"The image holds more than {options.max_chars} characters of text, the per-file limit.",
            max_chars=options.max_chars,
        )
    read.confidences.append(reading.confidence)
    read.blocks.append(Block(kind="ocr", text=text, page=index + 1, meta=reading.provenance(languages)))


def _report_unread_frames(read: _FramesRead) -> None:
    """Warnings for frames OCR could not read; an error when no frame gave any text."""
    from data_extract.pipeline import ocr

    if read.failed_pages:
        read.warnings.append(f"OCR failed on page(s) {', '.join(map(str, read.failed_pages))}.")
    if read.timed_out_pages:
        read.warnings.append(f"OCR timed out on page(s) {', '.join(map(str, read.timed_out_pages))}.")
    if read.low_confidence_pages:
        read.warnings.append(ocr.low_confidence_warning(read.low_confidence_pages))
    if not read.blocks:
        if read.timed_out_pages and not read.ocr_pages:
            raise ExtractionError(ErrorType.TIMEOUT, "OCR of the image did not finish in time.")
        if read.failed_pages and not read.ocr_pages:
            raise ExtractionError(ErrorType.CORRUPT, "OCR could not read the image.")
        raise ExtractionError(ErrorType.EMPTY, "No text was recognised in the image.")


def _frame_count(image: Image.Image) -> int:
    if image.format not in _MULTI_PAGE_FORMATS:
        return 1
    try:
        return max(int(getattr(image, "n_frames", 1)), 1)
    except (OSError, ValueError, EOFError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, "The TIFF file is damaged: its pages cannot be listed.") from exc


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ExtractionError(ErrorType.CORRUPT, "The image declares no pixels.")
    if width * height > MAX_IMAGE_PIXELS:
        raise ExtractionError(
            ErrorType.TOO_LARGE,
            f"The image is {width}x{height} pixels, over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit.",
            width=width,
            height=height,
        )


def _prepared_frame(image: Image.Image, index: int) -> tuple[Image.Image, int | None]:
    """Decode one frame as an upright grayscale image sized for OCR; return it and its DPI."""
    from PIL import Image, ImageOps

    try:
        image.seek(index)
        _check_size(*image.size)
        frame = ImageOps.exif_transpose(image) if index == 0 else image.copy()
        if frame is image:
            frame = image.copy()
        frame.load()
    except ExtractionError:
        raise
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        raise ExtractionError(
            ErrorType.CORRUPT, f"The image is damaged or truncated (page {index + 1} cannot be decoded)."
        ) from exc

    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        # Text on a transparent background: flatten onto white, as a viewer shows it.
        rgba = frame.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        frame.close()
        frame = background
    if frame.mode != "L":
        converted = frame.convert("L")
        frame.close()
        frame = converted

    dpi = _declared_dpi(image.info.get("dpi"))
    width, height = frame.size
    scale = 1.0
    if width * height > OCR_MAX_PIXELS:
        scale = (OCR_MAX_PIXELS / (width * height)) ** 0.5
    if scale != 1.0:
        resized = frame.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
        )
        frame.close()
        frame = resized
        dpi = round(dpi * scale) if dpi else None
    return frame, dpi


def _declared_dpi(value: Any) -> int | None:
    """The DPI an image declares (``info["dpi"]``: a number or an (x, y) pair, whatever the file holds)."""
    try:
        dpi = float(value[0] if isinstance(value, tuple | list) else value)
    except (TypeError, ValueError, IndexError):
        return None
    return round(dpi) if 70 <= dpi <= 2400 else None
