"""OLE2 compound files (legacy Office, Outlook .msg, and the wrapper of password-protected OOXML packages)."""

from __future__ import annotations

from typing import Any

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def is_encrypted_package(ole: Any) -> bool:
    """An OOXML file saved with a password: an OLE container holding both streams of an encrypted package
    (MS-OFFCRYPTO 2.3.4: ``EncryptionInfo`` describes the key, ``EncryptedPackage`` holds the ZIP)."""
    return bool(ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"))
