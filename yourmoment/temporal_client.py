"""Connecting to Temporal: one connection configuration, the Pydantic data converter, the payload codec."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import NoReturn

from dotenv import dotenv_values  # pydantic-settings reads `.env` with it too
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime

from yourmoment.errors import ConfigurationError, TemporalUnavailableError
from yourmoment.logs import redact_url
from yourmoment.settings import Settings


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """The SDK's Pydantic payload converter, with one cache of type adapters per process.

    The SDK builds a payload converter for every workflow run it keeps in its cache, and the SDK's
    Pydantic converter starts each with an empty cache: every run of 1,000 cached processes built the
    same TypeAdapters again (CPU at each run's first task, and about 1.5 KB a run by tracemalloc).
    Every instance of this one uses the same JSON converter. Its cache is bounded (LRU, 1,024 types)
    and thread-safe, and a TypeAdapter holds no per-run state. The types the workflows decode live in
    modules the sandbox passes through (`yourmoment.messages`), so every run looks up the same keys.
    """

    json_converter = PydanticJSONPlainPayloadConverter()

    def __init__(self) -> None:
        super().__init__(
            *(
                self.json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


PYDANTIC_DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads everywhere; encrypted by the payload codec when YOURMOMENT_PAYLOAD_KEY is set.

    With a key, failures are encrypted too: their message and stack trace move into the failure's
    encoded attributes (the history shows "Encoded failure"; the codec server decodes them). Without
    one, the codec still refuses encrypted payloads with a message that names the missing key.
    """
    from yourmoment.codec import EncryptionCodec, RefuseEncryptedCodec

    if not settings.yourmoment_payload_key:
        codec: PayloadCodec = RefuseEncryptedCodec()
        return dataclasses.replace(PYDANTIC_DATA_CONVERTER, payload_codec=codec)
    return dataclasses.replace(
        PYDANTIC_DATA_CONVERTER,
        payload_codec=EncryptionCodec.from_keys(settings.yourmoment_payload_key),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


DEFAULT_ADDRESS = "localhost:7233"


def temporal_variables(env_file: str | Path | None = None) -> dict[str, str]:
    """Temporal's own variables (TEMPORAL_*): the process environment over the same names in `.env`.

    `.env` is the file every other setting is read from (Settings' `env_file`, in the working directory).
    """
    path = Path(env_file or str(Settings.model_config.get("env_file") or ".env"))
    from_file = dotenv_values(path) if path.is_file() else {}
    merged = {
        k.upper(): v for k, v in from_file.items() if k.upper().startswith("TEMPORAL_") and v is not None
    }
    merged.update({k: v for k, v in os.environ.items() if k.startswith("TEMPORAL_")})
    return merged


def temporal_connect_config(
    *, target_host: str | None = None, namespace: str | None = None, env_file: str | Path | None = None
) -> ClientConnectConfig:
    """The one Temporal connection configuration of the worker, the CLI, health, the demo and run_local.

    First found wins, field by field: the worker's --address/--namespace; the process environment;
    `.env`; the profile (TEMPORAL_PROFILE, default "default") in Temporal's config file
    (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml); localhost:7233 and namespace
    "default". Variables: TEMPORAL_ADDRESS, _NAMESPACE, _API_KEY, _TLS, _TLS_*, _GRPC_META_*.
    """
    try:
        # Temporal's loader applies the variables over the file's profile: passing the merged
        # environment makes `.env` count as environment, below the real one.
        config = ClientConfig.load_client_connect_config(override_env_vars=temporal_variables(env_file))
    except Exception as exc:  # the SDK's ConfigError: unknown profile, unreadable file or certificate
        raise ConfigurationError(f"Temporal connection settings: {exc}") from exc
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if target_host:
        config["target_host"] = target_host
    if namespace:
        config["namespace"] = namespace
    if "://" in config["target_host"]:  # the SDK only warns and then fails to dial; say so at once
        raise ConfigurationError(
            f"TEMPORAL_ADDRESS (or --address) {redact_url(config['target_host'])!r} is a URL; "
            "give HOST:PORT, e.g. localhost:7233"
        )
    return config


async def connect(
    settings: Settings,
    *,
    target_host: str | None = None,
    namespace: str | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """A client configured by temporal_connect_config(); an unreachable server is a one-line error."""
    config = temporal_connect_config(target_host=target_host, namespace=namespace)
    try:
        return await Client.connect(**config, data_converter=data_converter(settings), runtime=runtime)
    except RuntimeError as exc:  # the SDK reports an unreachable server as a RuntimeError
        address = redact_url(config["target_host"])
        raise TemporalUnavailableError(f"cannot reach Temporal at {address}: {exc}") from exc
    except ValueError:  # a target that is not host:port (the SDK's parser refuses it before dialling)
        raise ConfigurationError(
            f"TEMPORAL_ADDRESS (or --address) {redact_url(config['target_host'])!r} is not HOST:PORT, "
            "e.g. localhost:7233"
        ) from None


def exit_process(code: int) -> NoReturn:
    """Ends the process without interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop, and CPython's finalisation then
    aborts with "PyGILState_Release" (temporalio/sdk-python#300). Output is flushed first, where it
    can be (a full disk or a closed pipe was reported already, or has nobody to tell).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # OSError, or the starter's OutputError
            stream.flush()
    os._exit(code)
