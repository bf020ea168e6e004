"""Optical character recognition through the Tesseract command-line program.

The ``tesseract`` binary is called directly (no Python wrapper): one process per
image, the image piped in as a PGM/PPM, TSV out. TSV gives every recognised word
with its confidence, so one run yields both the text and a mean confidence.

Tesseract is optional. ``tesseract_available()`` says whether it can be used;
callers decide what an image-only input becomes without it (``needs_ocr``).
``TESSERACT_CMD`` names the binary when it is not on ``PATH`` (for example in a
Lambda layer under ``/opt/bin``).
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

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
        probe = subprocess.run(
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
        listing = subprocess.run(
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


def _as_pnm(image: Image.Image) -> bytes:
    """Encode as binary PGM/PPM: no compression, so it is the cheapest format to pipe."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Text on a transparent background is usually dark on nothing: flatten on white.
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        image = flattened
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="PPM")
    return buffer.getvalue()


def _parse_tsv(tsv: str) -> tuple[str, float]:
    """Rebuild text (lines, blank line between paragraphs) and the mean word confidence (0..1)."""
    lines: list[str] = []
    current_line: list[str] = []
    line_key: tuple[str, str, str] | None = None
    paragraph_key: tuple[str, str] | None = None
    confidences: list[float] = []

    rows = tsv.splitlines()
    for row in rows[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":
            continue
        word = fields[11].strip()
        if not word:
            continue
        block, paragraph, line = fields[2], fields[3], fields[4]
        key = (block, paragraph, line)
        if key != line_key:
            if current_line:
                lines.append(" ".join(current_line))
                current_line = []
            if paragraph_key is not None and (block, paragraph) != paragraph_key:
                lines.append("")
            line_key, paragraph_key = key, (block, paragraph)
        current_line.append(word)
        try:
            confidence = float(fields[10])
        except ValueError:
            continue
        if confidence >= 0:
            confidences.append(confidence)
    if current_line:
        lines.append(" ".join(current_line))
    text = "\n".join(lines).strip()
    mean_confidence = round(sum(confidences) / len(confidences) / 100.0, 4) if confidences else 0.0
    return text, mean_confidence


def ocr_image(
    image: Image.Image,
    languages: str = "eng",
    timeout_s: float = 60.0,
    *,
    dpi: int | None = None,
) -> tuple[str, float]:
    """Recognise the text of one image.

    Returns ``(text, mean_confidence)`` with the confidence in 0..1 (0.0 when no
    word was recognised). Raises ``OcrTimeout`` when tesseract runs longer than
    ``timeout_s`` (the process is killed) and ``OcrError`` for other failures.
    """
    command = tesseract_command()
    if command is None:
        raise OcrError("Tesseract is not installed.")
    resolved = resolve_languages(languages)
    # Sauvola (local) thresholding keeps dark text on shaded or coloured cells,
    # which the default global Otsu threshold turns into solid black.
    args = [command, "stdin", "stdout", "-l", resolved.argument, "--psm", "3", "-c", "thresholding_method=2"]
    if dpi:
        args += ["--dpi", str(int(dpi))]
    args.append("tsv")
    try:
        completed = subprocess.run(
            args,
            input=_as_pnm(image),
            capture_output=True,
            timeout=timeout_s,
            env=_tesseract_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OcrTimeout(f"OCR took longer than {timeout_s:g} s.") from exc
    except OSError as exc:
        raise OcrError(f"Tesseract could not be started ({exc.strerror or exc.__class__.__name__}).") from exc
    if completed.returncode != 0:
        raise OcrError(f"Tesseract failed (exit status {completed.returncode}).")
    return _parse_tsv(completed.stdout.decode("utf-8", "replace"))
