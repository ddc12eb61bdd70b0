"""`starter.py codec-server` (payload decoding for the Web UI and CLI) and `starter.py payload-keygen`."""

from __future__ import annotations

import argparse
import ipaddress
import re

from yourmoment.cli.common import Context, add_plain_command, number
from yourmoment.codec import (
    DEFAULT_CORS_ORIGINS,
    ENV_NAME,
    LOOPBACK_NAMES,
    TOKEN_ENV_NAME,
    EncryptionCodec,
    check_token,
    create_codec_app,
    generate_payload_key,
    is_loopback,
    with_loopback_twins,
)
from yourmoment.errors import ConfigurationError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = add_plain_command(
        sub,
        "codec-server",
        "serve Temporal's codec protocol so the Web UI and 'temporal --codec-endpoint' can read payloads",
        cmd_codec_server,
    )
    server.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"interface to listen on (default 127.0.0.1; any other needs {TOKEN_ENV_NAME})",
    )
    server.add_argument(
        "--port",
        type=number(0, 65535, whole=True),
        default=8081,
        help="port (default 8081; 0: any free port)",
    )
    server.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="URL",
        help=f"Web UI origin allowed to call from a browser; repeatable (default {' and '.join(DEFAULT_CORS_ORIGINS)})",
    )
    server.add_argument(
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NAME",
        help="serve only this Temporal namespace (X-Namespace header); repeatable (default: any)",
    )
    server.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        default=[],
        metavar="NAME",
        help=f"also serve requests whose Host header names NAME; repeatable (always: {', '.join(LOOPBACK_NAMES)})",
    )

    add_plain_command(
        sub,
        "payload-keygen",
        f"print a new key for {ENV_NAME} (Temporal payload encryption)",
        cmd_payload_keygen,
    )


def cmd_payload_keygen(_args: argparse.Namespace) -> None:
    print(generate_payload_key())


def cmd_codec_server(args: argparse.Namespace) -> None:
    from yourmoment.logs import configure_logging
    from yourmoment.serving import run_forever

    settings = Context(args).settings
    if not settings.yourmoment_payload_key:
        raise ConfigurationError(
            f"{ENV_NAME} is not set; the codec server needs the same keys as the workers "
            "(create one with 'starter.py payload-keygen')"
        )
    codec = EncryptionCodec.from_keys(settings.yourmoment_payload_key)
    host = bind_host(args.host)
    token = server_token(settings.yourmoment_codec_token, host, settings.yourmoment_payload_key)
    origins = args.cors_origins or list(DEFAULT_CORS_ORIGINS)
    # A specific bind address is a name clients may use; a wildcard is not a name.
    hosts = [*args.allowed_hosts, *([host] if host not in ("0.0.0.0", "::") else [])]
    app = create_codec_app(codec, origins, args.namespaces, token=token, allowed_hosts=hosts)
    configure_logging(settings)
    print(
        f"codec server on http://{f'[{host}]' if ':' in host else host}:{args.port} (key ids {', '.join(codec.key_ids)}; "
        f"token {'required' if token else 'not required (loopback only)'}; CORS {', '.join(with_loopback_twins(origins))})",
        flush=True,
    )
    run_forever(app, host, args.port)


def bind_host(value: str) -> str:
    """The address to listen on: an IP address (IPv6 with or without brackets, as in a URL) or a name."""
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", host):
            raise ConfigurationError(f"--host {value!r} is not an IP address or a host name") from None
    return host


def server_token(token: str | None, host: str, payload_keys: str) -> str | None:
    """The token to require: whoever reaches a non-loopback port could decrypt payloads without one."""
    token = (token or "").strip() or None
    if token is None:
        if not is_loopback(host):
            raise ConfigurationError(
                f"refusing to listen on {host} without {TOKEN_ENV_NAME}: anyone who reaches the port could "
                "decrypt payloads; set a token (e.g. from 'starter.py payload-keygen') or listen on 127.0.0.1"
            )
        return None
    if token in payload_keys.split(","):
        raise ConfigurationError(f"{TOKEN_ENV_NAME} must differ from every key in {ENV_NAME}")
    return check_token(token)
