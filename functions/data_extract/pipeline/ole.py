"""OLE2 compound files (legacy Office, Outlook .msg, and the wrapper of password-protected OOXML packages)."""

from __future__ import annotations

import io
from typing import Protocol

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class OleEntries(Protocol):
    """The part of ``olefile.OleFileIO`` that names its streams."""

    def exists(self, filename: str) -> bool: ...


class OleStreams(Protocol):
    """The part of ``olefile.OleFileIO`` that opens a stream (an ``io.BytesIO`` of its bytes)."""

    def openstream(self, filename: str) -> io.BytesIO: ...


def is_encrypted_package(ole: OleEntries) -> bool:
    """An OOXML file saved with a password: an OLE container holding both streams of an encrypted package
    (MS-OFFCRYPTO 2.3.4: ``EncryptionInfo`` describes the key, ``EncryptedPackage`` holds the ZIP)."""
    return bool(ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"))
