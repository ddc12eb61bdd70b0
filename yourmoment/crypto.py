"""Fernet encryption of secrets at rest, with key rotation (MultiFernet: the first key encrypts)."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from yourmoment.errors import ConfigurationError


def generate_key() -> str:
    return Fernet.generate_key().decode()


class Encryptor:
    """Encrypts with the first key of a comma-separated list and decrypts with any of them."""

    def __init__(self, keys: str | None) -> None:
        if not keys or not keys.strip():
            # Never generate a key silently: data written with a throwaway key is lost on the next host.
            raise ConfigurationError(
                "YOURMOMENT_ENCRYPTION_KEY is not set; create one with 'starter.py keygen' and set it "
                "on every worker and CLI host"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "YOURMOMENT_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._with_any_key(self._fernet.decrypt, token)

    def rotate(self, token: str) -> str:
        """Re-encrypts a token under the first (newest) key."""
        return self._with_any_key(self._fernet.rotate, token)

    @staticmethod
    def _with_any_key(operation: Callable[[bytes], bytes], token: str) -> str:
        """Decrypting and rotating open the token with any of the keys; neither may show the token."""
        try:
            return operation(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored secret cannot be decrypted with YOURMOMENT_ENCRYPTION_KEY (wrong or rotated-out key)"
            ) from exc
