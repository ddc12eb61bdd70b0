"""`starter.py codec-server` (payload decoding for the Web UI and CLI) and `starter.py payload-keygen`."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from yourmoment.cli.common import Context, number
from yourmoment.codec import (
    DEFAULT_CORS_ORIGINS,
    ENV_NAME,
    EncryptionCodec,
    create_codec_app,
    generate_payload_key,
)
from yourmoment.errors import ConfigurationError


def register(sub: argparse._SubParsersAction) -> None:
    server = sub.add_parser(
        "codec-server",
        help="serve Temporal's codec protocol so the Web UI and 'temporal --codec-endpoint' can read payloads",
    )
    server.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    server.add_argument(
        "--port",
        type=number(0, 65535, whole=True),
        default=8081,
        help="port (default 8081; 0: any free port)",
    )
    server.add_argument(
        "--cors-origin", action="append", dest="cors_origins", metavar="URL",
        help=f"Web UI origin allowed to call from a browser; repeatable (default {' and '.join(DEFAULT_CORS_ORIGINS)})",
    )  # fmt: skip
    server.add_argument(
        "--namespace", action="append", dest="namespaces", metavar="NAME",
        help="serve only this Temporal namespace (X-Namespace header); repeatable (default: any)",
    )  # fmt: skip
    server.set_defaults(handler=cmd_codec_server)

    keygen = sub.add_parser(
        "payload-keygen", help=f"print a new key for {ENV_NAME} (Temporal payload encryption)"
    )
    keygen.set_defaults(handler=cmd_payload_keygen)


def cmd_payload_keygen(_args: argparse.Namespace) -> None:
    print(generate_payload_key())


def cmd_codec_server(args: argparse.Namespace) -> None:
    from imitation.serve import run_forever
    from yourmoment.logs import configure_logging

    settings = Context(args).settings
    if not settings.yourmoment_payload_key:
        raise ConfigurationError(
            f"{ENV_NAME} is not set; the codec server needs the same keys as the workers "
            "(create one with 'starter.py payload-keygen')"
        )
    codec = EncryptionCodec.from_keys(settings.yourmoment_payload_key)
    origins = args.cors_origins or list(DEFAULT_CORS_ORIGINS)
    configure_logging(settings)
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: whoever reaches this port can decrypt payloads; "
            "keep it on a private network",
            file=sys.stderr,
        )
    print(
        f"codec server on http://{args.host}:{args.port} (key ids {', '.join(codec.key_ids)}; "
        f"CORS {', '.join(origins)})",
        flush=True,
    )
    run_forever(create_codec_app(codec, origins, args.namespaces), args.host, args.port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
