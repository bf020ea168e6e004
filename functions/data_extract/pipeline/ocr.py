"""Optical character recognition through the Tesseract command-line program.

The ``tesseract`` binary is called directly (no Python wrapper): one process per
step, the image piped in as a PGM/PPM, TSV out. TSV gives every recognised word
with its box and confidence, so one run yields the text, a mean confidence and
the geometry the later steps need.

``recognise_page`` feeds Tesseract the way it reads best, measured on the
corpus's scans and page images (docs/benchmarks.md, OCR section):

1. Skew is measured from the sharpness of the row profile over a range of
   angles and corrected when it exceeds ``DESKEW_MIN_DEGREES`` (at 7 degrees
   Tesseract keeps about one line in twelve).
2. The page is read with automatic segmentation (``--psm 3``). If its text is
   small (median word height below ``SMALL_TEXT_PX``: a 72-dpi page image, a
   thumbnail), it is enlarged towards ``TARGET_TEXT_PX``, at most
   ``MAX_UPSCALE`` times, and read again. Text that is already large is left
   alone: enlarging it further loses table cells.
3. A doubtful reading (low mean confidence, hardly any confident word) calls
   for orientation and script detection (``--psm 0``, ``osd.traineddata``): a
   page turned 90/180/270 degrees, which comes out as mirrored junk, is turned
   upright and read again; and a page that still reads poorly is tried with
   sparse-text segmentation (``--psm 11``: forms, tables, labels scattered over
   the page). The reading with more confidently read characters is kept, so
   the segmentation mode is chosen per page.
4. Vertical lines (a margin stamp, a spine title), which the upright pass
   reads in broken pieces, are cut out, turned and read again as one line.

Tesseract is optional. ``tesseract_available()`` says whether it can be used;
callers decide what an image-only input becomes without it (``needs_ocr``).
``TESSERACT_CMD`` names the binary when it is not on ``PATH``; in Lambda the
Tesseract layer puts it in ``/opt/bin``, which is on ``PATH``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from PIL import Image

TESSERACT_CMD_ENV = "TESSERACT_CMD"

# Tesseract's OpenMP threads fight with the other work of a worker (and with each
# other when several pages are recognised in sequence); one thread is faster
# overall and keeps CPU use predictable.
_TESSERACT_ENV_OVERRIDES = {"OMP_THREAD_LIMIT": "1"}

_LANGUAGE_CODE = re.compile(r"^[A-Za-z0-9_]{2,40}$")
_VERSION_PROBE_TIMEOUT_S = 10.0


class OcrError(Exception):
    """Tesseract could not recognise an image (crash, bad output, missing binary)."""


class OcrTimeout(OcrError):
    """Tesseract did not finish within its time budget and was stopped."""


@dataclass(frozen=True)
class OcrLanguages:
    """The ``-l`` argument to pass, and what was asked for but is not installed."""

    argument: str
    missing: tuple[str, ...] = ()


def _tesseract_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(_TESSERACT_ENV_OVERRIDES)
    return env


@functools.lru_cache(maxsize=1)
def tesseract_command() -> str | None:
    """Absolute path of a working tesseract binary, or None."""
    configured = os.environ.get(TESSERACT_CMD_ENV, "").strip()
    candidate = shutil.which(configured) if configured else shutil.which("tesseract")
    if not candidate:
        return None
    try:
        probe = subprocess.run(  # noqa: S603 - an argv list (no shell) naming the binary found on PATH
            [candidate, "--version"],
            capture_output=True,
            timeout=_VERSION_PROBE_TIMEOUT_S,
            env=_tesseract_env(),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return candidate if probe.returncode == 0 else None


def tesseract_available() -> bool:
    """True when the tesseract binary is installed and runs (checked once per process)."""
    return tesseract_command() is not None


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Language packs tesseract can load (``tesseract --list-langs``)."""
    command = tesseract_command()
    if command is None:
        return frozenset()
    try:
        listing = subprocess.run(  # noqa: S603 - an argv list (no shell) naming the probed tesseract binary
            [command, "--list-langs"],
            capture_output=True,
            timeout=_VERSION_PROBE_TIMEOUT_S,
            env=_tesseract_env(),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    lines = listing.stdout.decode("utf-8", "replace").splitlines()
    # The first line is a heading ("List of available languages in ...").
    return frozenset(line.strip() for line in lines[1:] if _LANGUAGE_CODE.match(line.strip()))


def resolve_languages(requested: str) -> OcrLanguages:
    """Turn a ``"eng+deu"`` request into an argument tesseract accepts.

    Unknown or uninstalled codes are dropped (and reported) rather than failing the
    whole recognition; when none of the requested packs exists, English is used if
    installed.
    """
    codes = [c.strip() for c in re.split(r"[+,\s]+", requested or "") if c.strip()]
    available = installed_languages()
    usable = [c for c in codes if _LANGUAGE_CODE.match(c) and (not available or c in available)]
    missing = tuple(c for c in codes if c not in usable)
    if not usable:
        usable = ["eng"] if (not available or "eng" in available) else sorted(available - {"osd"})[:1]
    return OcrLanguages(argument="+".join(dict.fromkeys(usable)), missing=missing)


# --- tunables ----------------------------------------------------------------

# Text is measured by the median box height of the words of a first reading. Below SMALL_TEXT_PX
# (about 10-point text at 200 dpi: a 72-dpi page image, a thumbnail) the page is enlarged so that
# height becomes TARGET_TEXT_PX (about 300 dpi), at most MAX_UPSCALE times.
SMALL_TEXT_PX = 16
TARGET_TEXT_PX = 24
MAX_UPSCALE = 3.0
# Without words to measure, images with a shorter long side are enlarged (at most 2x).
_UPSCALE_BELOW_LONG_SIDE = 1600
# Never hand Tesseract more pixels than this (its memory grows with them).
MAX_OCR_PIXELS = 40_000_000
# Orientation detection below this confidence is a guess, not a finding.
OSD_MIN_CONFIDENCE = 1.5
# Skew search: +-DESKEW_MAX_DEGREES; smaller corrections only blur the glyphs.
DESKEW_MIN_DEGREES = 0.4
DESKEW_MAX_DEGREES = 15.0
# The best angle must sharpen the row profile by this much over no rotation.
DESKEW_MIN_GAIN = 1.15
_DESKEW_PROFILE_WIDTH = 700
# Orientation detection reads a copy no longer than this: it needs words, not detail, and costs pixels.
_OSD_MAX_LONG_SIDE = 1800
# A reading below this mean word confidence (or with under three confident words) is doubtful:
# orientation detection runs, and a turned page is read again.
DOUBTFUL_BELOW_CONFIDENCE = 0.80
# A page turned upright replaces the reading as it lay unless it reads clearly less (this share of it).
_UPRIGHT_PREFERENCE = 0.9
# A doubtful reading below this is also retried with sparse-text segmentation.
RETRY_BELOW_CONFIDENCE = 0.75
# Pages read with a mean word confidence below this are flagged to the user.
LOW_CONFIDENCE = 0.65
# Words Tesseract is at least this sure of count as confidently read (0..100 scale).
_CONFIDENT_WORD = 60.0
# A text line of at least three characters whose box is this many times taller than wide runs vertically.
_VERTICAL_LINE_RATIO = 2.2
# At most this many vertical runs per page are read again (each costs two small Tesseract runs).
_MAX_VERTICAL_STRIPS = 4

_PSM_AUTO = 3
_PSM_SPARSE = 11
_PSM_SINGLE_LINE = 7

# Tesseract reads the "://" of a web address as ": //" (it sees a gap after the colon).
_URL_SCHEME_GAP = re.compile(r"\b(https?|ftp): //")
_OSD_ROTATE = re.compile(rb"Rotate:\s*(\d+)")
_OSD_CONFIDENCE = re.compile(rb"Orientation confidence:\s*([\d.]+)")
_OSD_SCRIPT = re.compile(rb"Script:\s*(\S+)")


@dataclass(frozen=True)
class OcrPage:
    """The reading of one page, and how the page was fed to Tesseract (its provenance)."""

    text: str
    confidence: float  # mean word confidence, 0..1 (0.0 when no word was read)
    word_count: int
    rotation: int = 0  # degrees the page was turned clockwise before recognition
    skew: float = 0.0  # degrees the page was straightened by
    scale: float = 1.0  # enlargement before recognition
    psm: int = _PSM_AUTO  # Tesseract page segmentation mode of the kept reading
    script: str | None = None  # script named by orientation detection
    vertical_lines: int = 0  # vertical lines cut out and read on their own

    @property
    def low_confidence(self) -> bool:
        return self.word_count > 0 and self.confidence < LOW_CONFIDENCE

    def provenance(self, languages: str) -> dict[str, Any]:
        """The page's OCR provenance as recorded on its blocks."""
        meta: dict[str, Any] = {
            "ocr_confidence": self.confidence,
            "ocr_engine": "tesseract",
            "ocr_languages": languages,
            "ocr_words": self.word_count,
            "ocr_psm": self.psm,
            "ocr_rotation": self.rotation,
            "ocr_skew": self.skew,
            "ocr_scale": self.scale,
        }
        if self.script:
            meta["ocr_script"] = self.script
        if self.vertical_lines:
            meta["ocr_vertical_lines"] = self.vertical_lines
        if self.low_confidence:
            meta["ocr_low_confidence"] = True
        return meta


@dataclass(frozen=True)
class _Orientation:
    rotate: int = 0  # clockwise degrees that make the page upright
    confidence: float = 0.0
    script: str | None = None


@dataclass
class _Word:
    line: tuple[int, int, int]  # (block, paragraph, line)
    left: int
    top: int
    width: int
    height: int
    confidence: float  # 0..100, -1 when Tesseract gives none
    text: str


@dataclass
class _Reading:
    words: list[_Word]
    psm: int
    vertical: list[tuple[int, str, float]] = field(default_factory=list)  # (insert at line, text, confidence)

    @property
    def score(self) -> float:
        """Characters read with confidence: what a better reading has more of."""
        return sum(len(w.text) for w in self.words if w.confidence >= _CONFIDENT_WORD) + sum(
            len(text) for _at, text, confidence in self.vertical if confidence >= _CONFIDENT_WORD
        )

    @property
    def confidences(self) -> list[float]:
        values = [w.confidence for w in self.words if w.confidence >= 0]
        return values + [c for _at, _text, c in self.vertical if c >= 0]

    @property
    def mean_confidence(self) -> float:
        values = self.confidences
        return round(sum(values) / len(values) / 100.0, 4) if values else 0.0


class _Deadline:
    """One time budget shared by the Tesseract runs of a page."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.ends = time.monotonic() + timeout_s

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0.2:
            raise OcrTimeout(f"OCR took longer than {self.timeout_s:g} s.")
        return left


# --- public entry points -----------------------------------------------------


def recognise_page(
    image: Image.Image,
    languages: str = "eng",
    timeout_s: float = 60.0,
    *,
    dpi: int | None = None,
) -> OcrPage:
    """Recognise one page image, straightened, enlarged and turned as needed (see the module docstring).

    An upright page of ordinary print costs one Tesseract run (after a skew
    measurement in Pillow): orientation detection and the other segmentation
    run only for pages whose first reading is doubtful, and a second reading
    replaces the first only when it reads more.

    Raises ``OcrTimeout`` when the page's Tesseract runs together exceed ``timeout_s``
    (the running process is killed) and ``OcrError`` when recognition fails.
    """
    command = tesseract_command()
    if command is None:
        raise OcrError("Tesseract is not installed.")
    resolved = resolve_languages(languages).argument
    deadline = _Deadline(timeout_s)
    page = _grayscale(image)
    scale = _pixel_cap(page.size)
    if scale < 1.0:
        page = _resized(page, scale)
    try:
        page, skew = _straightened(page)
        reading = _recognise(command, page, resolved, _PSM_AUTO, deadline, _scaled(dpi, scale))
        enlarge = _upscale_factor(reading, page.size)
        if enlarge > 1.0:
            page = _resized(page, enlarge)
            scale *= enlarge
            reading = _recognise(command, page, resolved, _PSM_AUTO, deadline, _scaled(dpi, scale))
        rotation, script = 0, None
        if _doubtful(reading):
            orientation = _detect_orientation(command, page, deadline)
            script = orientation.script
            upright = _upright_reading(command, page, orientation, reading, resolved, deadline, _scaled(dpi, scale))
            if upright is not None:
                turned, reading, turned_skew = upright
                page = _replace(page, turned)
                rotation, skew = orientation.rotate, turned_skew or skew
            reading = _sparse_if_better(command, page, reading, resolved, deadline, _scaled(dpi, scale))
        _read_vertical_lines(command, page, resolved, reading, deadline)
    finally:
        page.close()
    return OcrPage(
        text=_assemble(reading),
        confidence=reading.mean_confidence,
        word_count=len(reading.confidences),
        rotation=rotation,
        skew=skew,
        scale=round(scale, 3),
        psm=reading.psm,
        script=script,
        vertical_lines=len(reading.vertical),
    )


def _upright_reading(
    command: str,
    page: Image.Image,
    orientation: _Orientation,
    reading: _Reading,
    languages: str,
    deadline: _Deadline,
    dpi: int | None,
) -> tuple[Image.Image, _Reading, float] | None:
    """The page turned upright (as orientation detection says), its reading and skew, when that reads as well."""
    if not orientation.rotate or orientation.confidence < OSD_MIN_CONFIDENCE:
        return None
    turned, turned_skew = _straightened(page.rotate(-orientation.rotate, expand=True))
    candidate = _recognise(command, turned, languages, _PSM_AUTO, deadline, dpi)
    # Upright wins ties: a quarter-turned page can read as many words, in the wrong order.
    if candidate.score >= _UPRIGHT_PREFERENCE * reading.score:
        return turned, candidate, turned_skew
    turned.close()
    return None


def _sparse_if_better(
    command: str, page: Image.Image, reading: _Reading, languages: str, deadline: _Deadline, dpi: int | None
) -> _Reading:
    """A poor reading tried again with sparse-text segmentation: whichever of the two reads more."""
    if reading.mean_confidence >= RETRY_BELOW_CONFIDENCE or not reading.words:
        return reading
    sparse = _recognise(command, page, languages, _PSM_SPARSE, deadline, dpi)
    return sparse if sparse.score > reading.score * 1.05 else reading


def ocr_image(
    image: Image.Image,
    languages: str = "eng",
    timeout_s: float = 60.0,
    *,
    dpi: int | None = None,
) -> tuple[str, float]:
    """Recognise the text of one image: ``(text, mean_confidence)`` of ``recognise_page``."""
    page = recognise_page(image, languages, timeout_s, dpi=dpi)
    return page.text, page.confidence


def low_confidence_warning(pages: list[int]) -> str:
    """The warning that names the pages whose OCR text deserves a check against the original."""
    numbers = ", ".join(str(p) for p in pages)
    label = "page" if len(pages) == 1 else "pages"
    return (
        f"OCR read {label} {numbers} with low confidence (mean word confidence below {LOW_CONFIDENCE:.2f}): "
        "check that text against the original."
    )


# --- preparing the page --------------------------------------------------------


def _grayscale(image: Image.Image) -> Image.Image:
    """An 8-bit grayscale copy; text on a transparent background is flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flattened.alpha_composite(rgba)
        rgba.close()
        gray = flattened.convert("L")
        flattened.close()
        return gray
    return image.convert("L")


def _replace(old: Image.Image, new: Image.Image) -> Image.Image:
    old.close()
    return new


def _resized(image: Image.Image, scale: float) -> Image.Image:
    width, height = image.size
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _replace(image, image.resize(size, Image.Resampling.LANCZOS))


def _pixel_cap(size: tuple[int, int]) -> float:
    """The scale that brings a page within ``MAX_OCR_PIXELS`` (1.0 when it is within already)."""
    width, height = size
    fitting: float = (MAX_OCR_PIXELS / max(width * height, 1)) ** 0.5
    return min(1.0, fitting)


def _scaled(dpi: int | None, scale: float) -> int | None:
    return round(dpi * scale) if dpi else None


def _text_height(reading: _Reading) -> float | None:
    """Median box height (pixels) of the horizontal words read with confidence; None without such words."""
    heights = sorted(
        w.height
        for w in reading.words
        if w.confidence >= _CONFIDENT_WORD and len(w.text) >= 2 and w.height < 2 * w.width
    )
    return float(heights[len(heights) // 2]) if len(heights) >= 3 else None


def _upscale_factor(reading: _Reading, size: tuple[int, int]) -> float:
    """How much to enlarge a page given its first reading: only small text is enlarged.

    Text too small to be read at all leaves nothing to measure: a small image
    with (next to) no words read is then enlarged by its size alone, as
    screenshots and crops usually hold small text.
    """
    room: float = (MAX_OCR_PIXELS / max(size[0] * size[1], 1)) ** 0.5
    height = _text_height(reading)
    if height is None:
        long_side = max(size)
        if len(reading.words) < 3 and long_side < _UPSCALE_BELOW_LONG_SIDE:
            return max(1.0, min(2.0, _UPSCALE_BELOW_LONG_SIDE / long_side, room))
        return 1.0
    if height >= SMALL_TEXT_PX:
        return 1.0
    return max(1.0, min(MAX_UPSCALE, TARGET_TEXT_PX / height, room))


def _doubtful(reading: _Reading) -> bool:
    """Is a reading poor enough to ask whether the page is turned, or segmented badly?

    A page read mostly as vertical words is turned a quarter: Tesseract may read
    its words, but puts its lines in reverse order. A page where nothing at all
    was read (a photo, a blank scan) has no characters to detect an orientation from.
    """
    if not reading.words:
        return False
    confident = [w for w in reading.words if w.confidence >= _CONFIDENT_WORD]
    vertical = sum(1 for w in confident if len(w.text) >= 3 and w.height > 2 * w.width)
    return reading.mean_confidence < DOUBTFUL_BELOW_CONFIDENCE or len(confident) < 3 or 2 * vertical > len(confident)


def _straightened(page: Image.Image) -> tuple[Image.Image, float]:
    """The page rotated by its measured skew (the same page when it is straight), and that angle."""
    skew = _estimate_skew(page)
    if not skew:
        return page, 0.0
    return _replace(page, page.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)), skew


def _estimate_skew(page: Image.Image) -> float:
    """Degrees (counter-clockwise) that straighten the page's text lines; 0.0 when it is straight.

    Straight lines of text make the row profile (ink per pixel row) alternate
    sharply between lines and gaps; the angle whose rotation maximises the sum of
    squared differences between neighbouring rows is the skew. Measured on a
    reduced, inverted copy (ink bright), coarse to fine.
    """
    width, height = page.size
    if width < 50 or height < 50:
        return 0.0
    factor = min(1.0, _DESKEW_PROFILE_WIDTH / width)
    small = page.resize((max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.BOX)
    ink = small.point(lambda value: 255 if value < 160 else 0)
    small.close()
    try:
        cache: dict[float, float] = {}

        def sharpness(angle: float) -> float:
            if angle not in cache:
                turned = ink.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0)
                profile = turned.resize((1, turned.height), Image.Resampling.BOX)
                rows = profile.tobytes()
                turned.close()
                profile.close()
                cache[angle] = float(sum((a - b) * (a - b) for a, b in pairwise(rows)))
            return cache[angle]

        flat = sharpness(0.0)
        if flat <= 0.0:
            return 0.0
        coarse = [float(a) for a in range(-int(DESKEW_MAX_DEGREES), int(DESKEW_MAX_DEGREES) + 1)]
        best = max(coarse, key=sharpness)
        fine = [round(best + step / 10.0, 1) for step in range(-6, 7)]
        best = max(fine, key=sharpness)
        if abs(best) < DESKEW_MIN_DEGREES or sharpness(best) < flat * DESKEW_MIN_GAIN:
            return 0.0
        return best
    finally:
        ink.close()


# --- running tesseract -----------------------------------------------------------


def _as_pnm(image: Image.Image) -> bytes:
    """Encode as binary PGM/PPM: no compression, so it is the cheapest format to pipe."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        gray = _grayscale(image)
        try:
            return _as_pnm(gray)
        finally:
            gray.close()
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="PPM")
    return buffer.getvalue()


def _run(
    command: str, args: list[str], image: Image.Image, deadline: _Deadline
) -> subprocess.CompletedProcess[bytes]:
    timeout = deadline.remaining()
    try:
        return subprocess.run(  # noqa: S603 - an argv list (no shell); languages are checked against _LANGUAGE_CODE
            [command, "stdin", "stdout", *args],
            input=_as_pnm(image),
            capture_output=True,
            timeout=timeout,
            env=_tesseract_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OcrTimeout(f"OCR took longer than {deadline.timeout_s:g} s.") from exc
    except OSError as exc:
        raise OcrError(f"Tesseract could not be started ({exc.strerror or exc.__class__.__name__}).") from exc


def _detect_orientation(command: str, page: Image.Image, deadline: _Deadline) -> _Orientation:
    """Orientation and script of a page; a neutral answer when detection is not possible.

    Without ``osd.traineddata``, or on a page with too few characters, Tesseract
    fails: the page is then read as it lies.
    """
    if "osd" not in installed_languages():
        return _Orientation()
    factor = min(1.0, _OSD_MAX_LONG_SIDE / max(page.size))
    if factor < 1.0:
        reduced = page.resize(
            (max(1, round(page.width * factor)), max(1, round(page.height * factor))), Image.Resampling.BOX
        )
        try:
            completed = _run(command, ["--psm", "0"], reduced, deadline)
        finally:
            reduced.close()
    else:
        completed = _run(command, ["--psm", "0"], page, deadline)
    output = completed.stdout + b"\n" + completed.stderr
    rotate = _OSD_ROTATE.search(output)
    confidence = _OSD_CONFIDENCE.search(output)
    if completed.returncode != 0 or rotate is None or confidence is None:
        return _Orientation()
    script = _OSD_SCRIPT.search(output)
    degrees = int(rotate.group(1)) % 360
    return _Orientation(
        rotate=degrees if degrees in (90, 180, 270) else 0,
        confidence=float(confidence.group(1)),
        script=script.group(1).decode("ascii", "replace") if script else None,
    )


def _recognise(
    command: str, page: Image.Image, languages: str, psm: int, deadline: _Deadline, dpi: int | None = None
) -> _Reading:
    # Sauvola (local) thresholding keeps dark text on shaded or coloured cells,
    # which the default global Otsu threshold turns into solid black.
    args = ["-l", languages, "--psm", str(psm), "-c", "thresholding_method=2"]
    if dpi:
        args += ["--dpi", str(int(dpi))]
    args.append("tsv")
    completed = _run(command, args, page, deadline)
    if completed.returncode != 0:
        raise OcrError(f"Tesseract failed (exit status {completed.returncode}).")
    return _Reading(words=_parse_words(completed.stdout.decode("utf-8", "replace")), psm=psm)


def _parse_words(tsv: str) -> list[_Word]:
    words: list[_Word] = []
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":
            continue
        text = fields[11].strip()
        if not text:
            continue
        try:
            line = (int(fields[2]), int(fields[3]), int(fields[4]))
            left, top, width, height = (int(v) for v in fields[6:10])
        except ValueError:
            continue
        try:
            confidence = float(fields[10])
        except ValueError:
            confidence = -1.0
        words.append(_Word(line, left, top, width, height, confidence, text))
    return words


def _parse_tsv(tsv: str) -> tuple[str, float]:
    """Text (lines, blank line between paragraphs) and mean word confidence (0..1) of a TSV reading."""
    reading = _Reading(words=_parse_words(tsv), psm=_PSM_AUTO)
    return _assemble(reading), reading.mean_confidence


def _assemble(reading: _Reading) -> str:
    """Lines in Tesseract's order, a blank line between paragraphs; vertical lines as paragraphs of their own."""
    lines: list[tuple[tuple[int, int], str]] = []
    current: list[str] = []
    key: tuple[int, int, int] | None = None
    for word in reading.words:
        if word.line != key:
            if current and key is not None:
                lines.append(((key[0], key[1]), " ".join(current)))
            current, key = [], word.line
        current.append(word.text)
    if current and key is not None:
        lines.append(((key[0], key[1]), " ".join(current)))
    inserts: dict[int, list[str]] = {}
    for at, text, _confidence in reading.vertical:
        inserts.setdefault(at, []).append(text)
    out: list[str] = []
    previous: tuple[int, int] | None = None
    for index in range(len(lines) + 1):
        for text in inserts.get(index, []):
            if out:
                out.append("")
            out.append(text)
            previous = None
        if index == len(lines):
            break
        paragraph, text = lines[index]
        if out and paragraph != previous:
            out.append("")
        out.append(text)
        previous = paragraph
    return _URL_SCHEME_GAP.sub(r"\1://", "\n".join(out).strip())


# --- vertical lines -------------------------------------------------------------


LineKey = tuple[int, int, int]  # (block, paragraph, line) of a Tesseract text line
PixelBox = list[int]  # left, top, right, bottom


def _read_vertical_lines(
    command: str, page: Image.Image, languages: str, reading: _Reading, deadline: _Deadline
) -> None:
    """Re-read runs of vertical text as whole lines, replacing their pieces in ``reading``.

    Tesseract finds vertical text on an upright page but splits it where a glyph
    such as ':' breaks the run, and loses those glyphs. Adjacent vertical pieces
    in one column are merged, cut out with a margin, turned both ways and read
    as a single line; the turn Tesseract is surer of wins.
    """
    boxes, order = _line_boxes(reading)
    chars: dict[LineKey, int] = {}
    for word in reading.words:
        chars[word.line] = chars.get(word.line, 0) + len(word.text)
    vertical = [
        line
        for line in order
        if chars[line] >= 3
        and (boxes[line][3] - boxes[line][1]) >= _VERTICAL_LINE_RATIO * max(boxes[line][2] - boxes[line][0], 1)
    ]
    if not vertical or len(vertical) > max(_MAX_VERTICAL_STRIPS, 0.3 * len(order)):
        # None, or so many that the page itself runs vertically (turned, and not turned back): nothing to mend.
        return
    replaced: set[LineKey] = set()
    positions = {line: index for index, line in enumerate(order)}
    for (x0, y0, x1, y1), members in _vertical_strips(vertical, boxes)[:_MAX_VERTICAL_STRIPS]:
        thickness = x1 - x0
        margin = max(4, thickness // 2)
        # Specks Tesseract read as glyphs inside the strip are part of what is read again.
        covered = members + [
            line
            for line in order
            if line not in members
            and line not in vertical
            and boxes[line][0] >= x0 - margin
            and boxes[line][2] <= x1 + margin
            and boxes[line][1] >= y0 - margin
            and boxes[line][3] <= y1 + margin
        ]
        best = _read_strip(command, page, (x0, y0, x1, y1), margin, languages, deadline)
        if best is None or not best.words or best.mean_confidence * 100 < _CONFIDENT_WORD:
            continue
        text = " ".join(w.text for w in best.words)
        at = min(positions[line] for line in covered)
        reading.vertical.append((at, text, best.mean_confidence * 100))
        replaced.update(covered)
    if replaced:
        _drop_replaced_lines(reading, order, replaced)


def _line_boxes(reading: _Reading) -> tuple[dict[LineKey, PixelBox], list[LineKey]]:
    """The box of each text line of a reading, and the lines in reading order."""
    boxes: dict[LineKey, PixelBox] = {}
    order: list[LineKey] = []
    for word in reading.words:
        box = boxes.get(word.line)
        right, bottom = word.left + word.width, word.top + word.height
        if box is None:
            boxes[word.line] = [word.left, word.top, right, bottom]
            order.append(word.line)
        else:
            box[0], box[1] = min(box[0], word.left), min(box[1], word.top)
            box[2], box[3] = max(box[2], right), max(box[3], bottom)
    return boxes, order


def _vertical_strips(vertical: list[LineKey], boxes: dict[LineKey, PixelBox]) -> list[tuple[PixelBox, list[LineKey]]]:
    """Vertical lines merged into strips: pieces of one column that overlap across and nearly touch along it."""
    strips: list[tuple[PixelBox, list[LineKey]]] = []
    for line in sorted(vertical, key=lambda k: (boxes[k][0], boxes[k][1])):
        x0, y0, x1, y1 = boxes[line]
        for strip, members in strips:
            overlap = min(x1, strip[2]) - max(x0, strip[0])
            gap = max(y0 - strip[3], strip[1] - y1)
            if overlap >= 0.5 * min(x1 - x0, strip[2] - strip[0]) and gap <= 2.0 * max(x1 - x0, strip[2] - strip[0]):
                strip[:] = [min(x0, strip[0]), min(y0, strip[1]), max(x1, strip[2]), max(y1, strip[3])]
                members.append(line)
                break
        else:
            strips.append(([x0, y0, x1, y1], [line]))
    return strips


def _read_strip(
    command: str,
    page: Image.Image,
    strip: tuple[int, int, int, int],
    margin: int,
    languages: str,
    deadline: _Deadline,
) -> _Reading | None:
    """A strip cut out with a margin, turned both ways and read as one line: the surer reading."""
    x0, y0, x1, y1 = strip
    width, height = page.size
    crop = page.crop((max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)))
    best: _Reading | None = None
    try:
        for angle in (-90, 90):  # clockwise for text read bottom to top, then the other way
            turned = crop.rotate(angle, expand=True)
            try:
                candidate = _recognise(command, turned, languages, _PSM_SINGLE_LINE, deadline)
            finally:
                turned.close()
            if best is None or candidate.score > best.score:
                best = candidate
    finally:
        crop.close()
    return best


def _drop_replaced_lines(reading: _Reading, order: list[LineKey], replaced: set[LineKey]) -> None:
    """Remove the pieces read again from ``reading``, re-anchoring the vertical lines among the lines kept."""
    # Line positions are indexes into the remaining lines once the pieces are gone.
    kept_order = [line for line in order if line not in replaced]
    remap = {}
    for at, text, _confidence in reading.vertical:
        anchor = next((line for line in order[at:] if line not in replaced), None)
        remap[(at, text)] = kept_order.index(anchor) if anchor is not None else len(kept_order)
    reading.vertical[:] = [(remap[(at, text)], text, c) for at, text, c in reading.vertical]
    reading.words[:] = [w for w in reading.words if w.line not in replaced]
