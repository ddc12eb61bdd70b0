"""What identifies one myMoment site and one account on it: the canonical site and the normalised username.

"At most one comment per article" holds per account, not per stored login: two logins with the same
username are the same author on the page. myMoment is a Django site, whose login form strips the
username and applies Unicode NFKC (`UsernameField`); we also ignore case, because whether the site's
user table compares case is not documented — treating `Pupil-A` and `pupil-a` as one account can at
worst cost a comment, treating them as two could post a second one on a child's text.

The site is identified the same way whatever a worker's MYMOMENT_BASE_URL spells (see
docs/rules.md#site-identity): two spellings of one site are one site, because two identities for one
site would let each of two workers hold "the" claim of one account and post twice.
"""

from __future__ import annotations

import hashlib
import ipaddress
import unicodedata
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK = "localhost"  # the one name of this machine: 127.0.0.0/8, ::1, 0.0.0.0, *.localhost
# The loopback spellings older versions keyed accounts by (they did not unify them): see legacy_account_keys.
_OLD_LOOPBACK_SPELLINGS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def normalize_username(username: str) -> str:
    """The form in which two spellings of one myMoment username compare equal."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def same_username(a: str, b: str) -> bool:
    return normalize_username(a) == normalize_username(b)


def canonical_host(host: str) -> str:
    """One host name, however spelt: lower case, IDNA, no trailing dot, no `www.`, loopback as `localhost`."""
    name = _ascii_name(host.strip().strip("[]").rstrip(".").lower())
    if _is_loopback(name):
        return LOOPBACK
    return name.removeprefix("www.")


def _ascii_name(name: str) -> str:
    """`müller.ch` as `xn--mller-kva.ch`, the form the site is reached by; an invalid name as written."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _is_loopback(name: str) -> bool:
    if name == LOOPBACK or name.endswith(f".{LOOPBACK}"):  # RFC 6761: every *.localhost is this machine
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def site_identity(base_url: str) -> str:
    """The site a base URL names, the one key every per-site record uses (claims, the article cap, pacing).

    Scheme, case, `www.`, a trailing dot or slash, a path and a default port do not make another site:
    `https://www.MyMoment.ch:443/` is `mymoment.ch`; `http://127.0.0.1:8000` and `http://localhost:8000/`
    are `localhost:8000`. Another port is another site. The scheme only decides which port is the default
    (http and https of one host are one site: erring towards one site can cost a comment, never add one).
    """
    parts = urlsplit(base_url.strip())
    host = canonical_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        port = None  # not a port number; settings refuse such a URL before it is used
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{host}:{port}"
    return host


def request_base_url(base_url: str) -> str:
    """The base URL as requests use it: scheme and host in lower case, no default port, no trailing slash.

    The host itself stays as given (`127.0.0.1` is not replaced by `localhost`: it is where the site is
    reached). The Referer the client sends must name the host the way the Host header does (httpx writes
    it in lower case without a default port), or the site's CSRF check refuses the login form.
    """
    parts = urlsplit(base_url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def _key(site: str, username: str) -> str:
    material = f"yourmoment-account\n{site}\n{normalize_username(username)}"
    return hashlib.sha256(material.encode()).hexdigest()


def account_key(base_url: str, username: str) -> str:
    """A fixed-length digest of the site's identity and the normalised username: stored and compared, never
    the username itself (usernames are kept encrypted), and independent of the encryption key so rotation
    keeps it."""
    return _key(site_identity(base_url), username)


def legacy_account_keys(base_url: str, username: str) -> list[str]:
    """The other keys older versions stored for this account: they did not unify loopback names, so a
    claim made through `127.0.0.1` has another key than one made through `localhost`. Claims are looked up
    under these too (read-time mapping; a migration cannot compute keys, it has no usernames). Empty for
    every site that is not this machine, whose key has not changed."""
    site = site_identity(base_url)
    host, colon, port = site.partition(":")
    if host != LOOPBACK:
        return []
    current = account_key(base_url, username)
    keys = (_key(f"{old}{colon}{port}", username) for old in _OLD_LOOPBACK_SPELLINGS)
    return [key for key in dict.fromkeys(keys) if key != current]
