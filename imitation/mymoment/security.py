"""Django-like security of the myMoment imitation: cookie names, masked CSRF tokens, the Referer check."""

from __future__ import annotations

import secrets
import string
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"
SESSION_COOKIE_MAX_AGE = 1_209_600  # Django default: two weeks
_CSRF_CHARS = string.ascii_letters + string.digits
_CSRF_SECRET_LEN = 32
_CSRF_COOKIE_MAX_AGE = 31_449_600  # Django default: one year


def random_string(length: int, alphabet: str) -> str:
    """Unguessable text for CSRF secrets, masks and session keys."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _valid_secret(value: str | None) -> bool:
    return value is not None and len(value) == _CSRF_SECRET_LEN and all(c in _CSRF_CHARS for c in value)


def mask_token(secret: str) -> str:
    """Django's masking: a fresh 32-char mask followed by the secret shifted by it, so renders differ."""
    mask = random_string(_CSRF_SECRET_LEN, _CSRF_CHARS)
    n = len(_CSRF_CHARS)
    cipher = "".join(
        _CSRF_CHARS[(_CSRF_CHARS.index(s) + _CSRF_CHARS.index(m)) % n]
        for s, m in zip(secret, mask, strict=True)
    )
    return mask + cipher


def unmask_token(token: str) -> str | None:
    if len(token) != 2 * _CSRF_SECRET_LEN or any(c not in _CSRF_CHARS for c in token):
        return None
    mask, cipher = token[:_CSRF_SECRET_LEN], token[_CSRF_SECRET_LEN:]
    n = len(_CSRF_CHARS)
    return "".join(
        _CSRF_CHARS[(_CSRF_CHARS.index(c) - _CSRF_CHARS.index(m)) % n]
        for c, m in zip(cipher, mask, strict=True)
    )


class CsrfContext:
    """Per-request CSRF state: one masked token per render, cookie set only when the secret is new."""

    def __init__(self, request: Request) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        self.secret = cookie if _valid_secret(cookie) else None
        self._is_new = False
        self._token: str | None = None

    def token(self) -> str:
        if self.secret is None:
            self.rotate()
        if self._token is None:
            self._token = mask_token(self.secret or "")
        return self._token

    def rotate(self) -> None:
        self.secret = random_string(_CSRF_SECRET_LEN, _CSRF_CHARS)
        self._is_new = True
        self._token = None

    def apply(self, response: Response) -> Response:
        if self._is_new and self.secret:
            response.set_cookie(
                CSRF_COOKIE, self.secret, max_age=_CSRF_COOKIE_MAX_AGE, path="/", samesite="lax"
            )
        return response


def csrf_failure(request: Request, form: Any) -> str | None:
    """Why the POST fails Django's CSRF check, or None when it passes."""
    secret = request.cookies.get(CSRF_COOKIE)
    if not _valid_secret(secret):
        return "CSRF-Cookie nicht gesetzt."
    token = str(form.get("csrfmiddlewaretoken") or request.headers.get("x-csrftoken") or "")
    if not token:
        return "CSRF-Token fehlt."
    candidate = unmask_token(token) if len(token) == 2 * _CSRF_SECRET_LEN else token
    if candidate is None or not secrets.compare_digest(candidate.encode(), (secret or "").encode()):
        return "CSRF-Token falsch."
    return None


def referer_failure(request: Request) -> str | None:
    referer = request.headers.get("referer")
    if not referer:
        return "Referer-Prüfung fehlgeschlagen: kein Referer."
    parts = urlsplit(referer)
    if (parts.scheme, parts.netloc) != (request.url.scheme, request.url.netloc):
        return "Referer-Prüfung fehlgeschlagen: Referer passt zu keinem vertrauenswürdigen Ursprung."
    return None
