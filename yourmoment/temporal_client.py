"""Connecting to Temporal: Temporal's own env config, the Pydantic data converter, the payload codec."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import NoReturn

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from yourmoment.errors import TemporalUnavailableError
from yourmoment.settings import Settings


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads everywhere; encrypted by the payload codec when YOURMOMENT_PAYLOAD_KEY is set."""
    from yourmoment.codec import EncryptionCodec, RefuseEncryptedCodec

    codec: PayloadCodec = RefuseEncryptedCodec()
    if settings.yourmoment_payload_key:
        codec = EncryptionCodec.from_keys(settings.yourmoment_payload_key)
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


async def connect(
    settings: Settings,
    *,
    target_host: str | None = None,
    namespace: str | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API key come from Temporal's env config."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    if target_host:
        config["target_host"] = target_host
    if namespace:
        config["namespace"] = namespace
    try:
        return await Client.connect(**config, data_converter=data_converter(settings), runtime=runtime)
    except RuntimeError as exc:  # the SDK reports an unreachable server as a RuntimeError
        raise TemporalUnavailableError(f"cannot reach Temporal at {config['target_host']}: {exc}") from exc


def exit_process(code: int) -> NoReturn:
    """Ends the process without interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop, and CPython's finalisation then
    aborts with "PyGILState_Release" (temporalio/sdk-python#300). Output is flushed first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
