"""What identifies one myMoment account: the site's normalised host and the normalised username.

"At most one comment per article" holds per account, not per stored login: two logins with the same
username are the same author on the page. myMoment is a Django site, whose login form strips the
username and applies Unicode NFKC (`UsernameField`); we also ignore case, because whether the site's
user table compares case is not documented — treating `Pupil-A` and `pupil-a` as one account can at
worst cost a comment, treating them as two could post a second one on a child's text.
"""

from __future__ import annotations

import hashlib
import unicodedata
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_username(username: str) -> str:
    """The form in which two spellings of one myMoment username compare equal."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def same_username(a: str, b: str) -> bool:
    return normalize_username(a) == normalize_username(b)


def site_host(base_url: str) -> str:
    """`www.mymoment.ch`, `MyMoment.ch.` and `https://mymoment.ch:443` are one site; other ports are not."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").rstrip(".").removeprefix("www.")
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host


def account_key(base_url: str, username: str) -> str:
    """A fixed-length digest of host and normalised username: stored and compared, never the username
    itself (usernames are kept encrypted), and independent of the encryption key so rotation keeps it."""
    material = f"yourmoment-account\n{site_host(base_url)}\n{normalize_username(username)}"
    return hashlib.sha256(material.encode()).hexdigest()
