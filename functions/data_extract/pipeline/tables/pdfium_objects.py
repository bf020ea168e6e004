"""The parts of pypdfium2's document, page and text page objects this code uses, as Protocols.

pypdfium2 ships no type information; these name what is called on its objects so the callers are checked.
``raw`` is the ctypes handle that ``pypdfium2.raw`` functions take (untyped there as well).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image


class PdfTextPage(Protocol):
    raw: Any

    def count_chars(self) -> int: ...

    def get_text_range(self) -> str: ...

    def get_text_bounded(self, left: float, bottom: float, right: float, top: float) -> str: ...

    def close(self) -> None: ...


class PdfBitmap(Protocol):
    def to_pil(self) -> Image.Image: ...

    def close(self) -> None: ...


class PdfPage(Protocol):
    raw: Any

    def get_width(self) -> float: ...

    def get_height(self) -> float: ...

    def get_size(self) -> tuple[float, float]: ...

    def get_rotation(self) -> int: ...

    def get_textpage(self) -> PdfTextPage: ...

    def render(self, *, scale: float, grayscale: bool) -> PdfBitmap: ...

    def close(self) -> None: ...


class PdfFormEnv(Protocol):
    raw: Any


class PdfDocument(Protocol):
    raw: Any
    formenv: PdfFormEnv | None

    def __len__(self) -> int: ...

    def get_page(self, index: int) -> PdfPage: ...

    def get_formtype(self) -> int: ...

    def init_forms(self) -> None: ...

    def get_metadata_value(self, key: str) -> str: ...

    def close(self) -> None: ...
