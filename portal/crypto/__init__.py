"""Per-subject data keys wrapped by the master key; sealing records; crypto-shredding."""

from portal.crypto.keys import (
    KeyDestroyed,
    KeyStore,
    SubjectCipher,
    blind_index,
    directory_cipher,
    keystore,
)

__all__ = ["KeyDestroyed", "KeyStore", "SubjectCipher", "blind_index", "directory_cipher", "keystore"]
