"""Temporal payload encryption (AES-256-GCM with key rotation) and the codec server for the Web UI and CLI."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from yourmoment.errors import ConfigurationError
from yourmoment.settings import is_http_url

log = logging.getLogger("yourmoment.codec")

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per payload
# The associated data binds a ciphertext to this scheme and its key id, so metadata cannot be swapped.
_AAD_PREFIX = b"yourmoment-payload-v1:"
ENV_NAME = "YOURMOMENT_PAYLOAD_KEY"
DEFAULT_CORS_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")  # the dev server's Web UI
TOKEN_ENV_NAME = "YOURMOMENT_CODEC_TOKEN"
MIN_TOKEN_CHARS = 32
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")  # Host header names always served


def generate_payload_key() -> str:
    """A new random 256-bit key, base64 (URL-safe) encoded, for YOURMOMENT_PAYLOAD_KEY."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    """Names a key in payload metadata without revealing it: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def parse_keys(value: str) -> list[bytes]:
    """`KEY[,OLDER_KEY...]`: each base64 (standard or URL-safe) of 32 bytes. Messages never echo a key."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ConfigurationError(f"{ENV_NAME} is empty; create a key with 'starter.py payload-keygen'")
    keys: list[bytes] = []
    for position, part in enumerate(parts, start=1):
        try:
            key = base64.b64decode(part.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigurationError(f"{ENV_NAME}: key {position} is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                f"{ENV_NAME}: key {position} has {len(key)} bytes, AES-256 needs {KEY_BYTES} "
                "(create one with 'starter.py payload-keygen')"
            )
        if key in keys:
            raise ConfigurationError(f"{ENV_NAME}: key {position} is listed twice")
        keys.append(key)
    return keys


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with the first key; decrypts with whichever key the payload names.

    Payloads without the `binary/encrypted` encoding pass through on decode, so histories written
    before encryption was switched on still read. Search attributes are not payloads and stay in
    clear: that is why workflows put only the process id, its name and its status there.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigurationError(f"{ENV_NAME} holds no key")
        self._ciphers: dict[str, AESGCM] = {}
        for key in keys:
            kid = key_id(key)
            if kid in self._ciphers:
                raise ConfigurationError(f"{ENV_NAME}: two keys share the key id {kid}; generate a new key")
            self._ciphers[kid] = AESGCM(key)
        self.key_id = key_id(keys[0])

    @classmethod
    def from_keys(cls, value: str) -> EncryptionCodec:
        """From the YOURMOMENT_PAYLOAD_KEY format: comma-separated base64 keys, newest first."""
        return cls(parse_keys(value))

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), _aad(self.key_id))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ConfigurationError(
                f"a payload is encrypted with key id {kid or '(none)'}, which {ENV_NAME} does not hold "
                f"(known: {', '.join(self._ciphers)}); add the old key after the new one"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            clear = cipher.decrypt(nonce, sealed, _aad(kid))
        except InvalidTag as exc:
            raise ConfigurationError(f"a payload encrypted with key id {kid} failed authentication") from exc
        return Payload.FromString(clear)


class RefuseEncryptedCodec(PayloadCodec):
    """Without YOURMOMENT_PAYLOAD_KEY: payloads stay plain, and an encrypted one is a clear error.

    Without it the converter would fail with "Unknown payload encoding binary/encrypted".
    """

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
                raise ConfigurationError(
                    f"a payload is encrypted with key id {kid or '(none)'}, but {ENV_NAME} is not set; "
                    "set it to the key the workers use"
                )
        return list(payloads)


def _aad(kid: str) -> bytes:
    return _AAD_PREFIX + kid.encode()


# --- the codec server (Temporal's remote codec protocol) ---------------------------------------------


def is_loopback(host: str) -> bool:
    """A bind address only this machine can reach (`localhost`, 127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    """A codec token long enough not to be guessed and fit for an HTTP header; the message never echoes it."""
    if len(token) < MIN_TOKEN_CHARS or not re.fullmatch(r"[\x21-\x7e]+", token):
        raise ConfigurationError(
            f"{TOKEN_ENV_NAME} must be at least {MIN_TOKEN_CHARS} printable characters without spaces "
            "(create one with 'starter.py payload-keygen')"
        )
    return token


def check_origin(origin: str) -> str:
    """A Web UI origin as browsers send it: http(s)://host[:port], no path and no wildcard."""
    if not is_http_url(origin) or urlsplit(origin).path.strip("/") or "*" in origin:
        raise ConfigurationError(
            f"--cors-origin {origin!r} is not an origin like https://temporal-ui.example.org"
        )
    return origin.rstrip("/")


def with_loopback_twins(origins: Sequence[str]) -> list[str]:
    """The origins, each loopback one with its twin: a Web UI on this machine is opened as
    http://localhost:PORT or http://127.0.0.1:PORT, and the browser sends whichever was typed."""
    twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    result: list[str] = []
    for origin in origins:
        parts = urlsplit(origin)
        names = [origin]
        if parts.hostname in twins:
            port = f":{parts.port}" if parts.port else ""
            names.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
        result += [name for name in names if name not in result]
    return result


def host_name(header: str) -> str:
    """The name in a Host header, without port, brackets or trailing dot, lower case ('' when malformed)."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        return name if bracket and (not rest or re.fullmatch(r":\d+", rest)) else ""
    name, _colon, port = header.partition(":")
    return name.rstrip(".") if name and (not port or port.isdigit()) else ""


class HostAllowList:
    """Answers 421 to a request whose Host header names no allowed host (DNS rebinding, stray proxies)."""

    def __init__(self, app: ASGIApp, allowed: Collection[str]) -> None:
        self.app = app
        self.allowed = {name.strip("[]").rstrip(".").lower() for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and host_name(Headers(scope=scope).get("host", "")) not in self.allowed:
            await JSONResponse({"error": "this Host is not served here"}, 421)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BearerToken:
    """Requires `Authorization: Bearer <token>` (constant-time compare) on everything but /health."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            scheme, _space, given = Headers(scope=scope).get("authorization", "").partition(" ")
            # The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), self.expected):
                answer = JSONResponse(
                    {"error": "missing or wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_codec_app(
    codec: PayloadCodec,
    cors_origins: Sequence[str] = DEFAULT_CORS_ORIGINS,
    namespaces: Collection[str] | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Collection[str] = (),
) -> Starlette:
    """`POST .../encode` and `POST .../decode` with `{"payloads": [...]}` in proto-JSON, plus `GET /health`.

    The protocol looks only at the last path segment, so `http://host:8081/{namespace}` (the CLI's
    templating) works as well as the bare URL. The namespace comes from the X-Namespace header or that
    path prefix; with `namespaces` given, other namespaces are refused.

    Outside in: the Host header must name a loopback name or one of `allowed_hosts`; CORS answers only
    the given Web UI origins (a preflight needs no token, browsers send none); with `token`, every
    request but /health must carry `Authorization: Bearer <token>`.
    """
    allowed = set(namespaces) if namespaces else None
    origins = with_loopback_twins([check_origin(origin) for origin in cors_origins])

    def endpoint(operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            prefix = request.path_params.get("prefix", "").strip("/")
            namespace = request.headers.get("x-namespace") or prefix.rsplit("/", 1)[-1]
            if allowed is not None and namespace not in allowed:
                return JSONResponse({"error": f"namespace {namespace or '(none)'} is not served here"}, 403)
            try:
                payloads = json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                return JSONResponse({"error": f"body is not Payloads JSON: {exc}"}, 400)
            try:
                if operation == "encode":
                    result = await codec.encode(payloads.payloads)
                else:
                    result = await codec.decode(payloads.payloads)
            except (ConfigurationError, ValueError) as exc:  # unknown key id, tampered data
                return JSONResponse({"error": str(exc)}, 400)
            # Counts only: the payloads are pupils' texts and must never reach a log.
            log.debug("%s: %d payloads for namespace %s", operation, len(result), namespace or "-")
            body = json_format.MessageToJson(Payloads(payloads=result))
            return Response(body, media_type="application/json")

        return handle

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/health", health, methods=["GET"])]
    for operation in ("encode", "decode"):
        handler = endpoint(operation)
        routes.append(Route(f"/{operation}", handler, methods=["POST"]))
        routes.append(Route(f"/{{prefix:path}}/{operation}", handler, methods=["POST"]))
    middleware = [
        Middleware(HostAllowList, allowed=[*LOOPBACK_NAMES, *allowed_hosts]),
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
        ),
    ]
    if token is not None:
        middleware.append(Middleware(BearerToken, token=check_token(token)))
    return Starlette(routes=routes, middleware=middleware)
