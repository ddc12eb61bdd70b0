"""Payload encryption: the codec, key rotation, the codec server over HTTP, and a real history read raw."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from imitation import mymoment
from tests.conftest import CliEnv, RunCli, client_with, migrated_sqlite
from yourmoment import processes_client
from yourmoment.codec import (
    ENCODING,
    EncryptionCodec,
    RefuseEncryptedCodec,
    create_codec_app,
    generate_payload_key,
    key_id,
    parse_keys,
    with_loopback_twins,
)
from yourmoment.errors import ConfigurationError
from yourmoment.messages import MonitorInput, ProcessConfig
from yourmoment.serving import serve_in_thread
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.temporal_client import SharedPydanticPayloadConverter, data_converter
from yourmoment_dev.harness import (
    Harness,
    Imitations,
    codec_server_command,
    fast_settings,
    free_port,
    hermetic_env,
    running_worker,
    temporal_binary,
    wait_until,
)

UI_ORIGIN = "http://localhost:8080"
PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"


def plain_payload(text: str) -> Payload:
    """What the Pydantic converter writes before any codec: the JSON of a message, readable."""
    return pydantic_data_converter.payload_converter.to_payloads([{"name": text}])[0]


# --- the codec ---------------------------------------------------------------------------------------


def test_every_workflow_runs_converter_shares_one_type_adapter_cache() -> None:
    """The SDK builds a payload converter per cached workflow run: ours share their type adapters, and
    write and read the same bytes as the SDK's Pydantic converter."""
    first, second = SharedPydanticPayloadConverter(), SharedPydanticPayloadConverter()
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]
    value = MonitorInput(process_id="p-1", grace_seconds=1.5)
    ours = first.to_payloads([value])
    assert ours == pydantic_data_converter.payload_converter.to_payloads([value])
    assert second.from_payloads(ours, [MonitorInput]) == [value]
    assert pydantic_data_converter.payload_converter.from_payloads(ours, [MonitorInput]) == [value]


async def test_roundtrip_encrypts_and_restores() -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    original = plain_payload("Klasse 4b Geheimprojekt")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata["encryption-key-id"] == codec.key_id.encode()
    assert b"Geheimprojekt" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is sealed too
    [again] = await codec.encode([original])
    assert again.data != sealed.data  # a fresh nonce per payload
    assert await codec.decode([sealed, again]) == [original, original]


async def test_rotation_new_key_first_old_key_still_reads() -> None:
    key_a, key_b = generate_payload_key(), generate_payload_key()
    old, rotated = EncryptionCodec.from_keys(key_a), EncryptionCodec.from_keys(f"{key_b}, {key_a}")
    written_before = (await old.encode([plain_payload("vorher")]))[0]
    assert await rotated.decode([written_before]) == [plain_payload("vorher")]
    written_after = (await rotated.encode([plain_payload("nachher")]))[0]
    assert written_after.metadata["encryption-key-id"].decode() == rotated.key_id != old.key_id
    assert rotated.key_ids == [rotated.key_id, old.key_id]
    with pytest.raises(ConfigurationError, match=rotated.key_id):
        await old.decode([written_after])


async def test_unknown_key_id_is_a_clear_error_without_the_key() -> None:
    key_a, key_b = generate_payload_key(), generate_payload_key()
    sealed = (await EncryptionCodec.from_keys(key_a).encode([plain_payload("x")]))[0]
    with pytest.raises(ConfigurationError) as info:
        await EncryptionCodec.from_keys(key_b).decode([sealed])
    message = str(info.value)
    assert key_id(parse_keys(key_a)[0]) in message and "YOURMOMENT_PAYLOAD_KEY" in message
    assert key_a not in message and key_b not in message


async def test_tampered_payload_fails_authentication() -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    sealed = (await codec.encode([plain_payload("x")]))[0]
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(ConfigurationError, match="failed authentication"):
        await codec.decode([sealed])


async def test_plain_payloads_pass_through_on_decode() -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    old = [
        plain_payload("geschrieben vor der Verschlüsselung"),
        Payload(metadata={"encoding": b"binary/null"}),
    ]
    assert await codec.decode(old) == old


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        (" , ", "empty"),
        ("not base64 at all!", "not valid base64"),
        ("c2hvcnQ=", "has 5 bytes"),  # base64 of b"short"
        ("{k},{k}", "listed twice"),
        ("{k},oops!", "key 2 is not valid base64"),
    ],
)
def test_malformed_keys_are_refused(value: str, problem: str) -> None:
    key = generate_payload_key()
    with pytest.raises(ConfigurationError, match=problem) as info:
        EncryptionCodec.from_keys(value.format(k=key))
    assert key not in str(info.value)


def test_generated_keys_are_random_256_bit_and_accept_both_alphabets() -> None:
    keys = {generate_payload_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        [raw] = parse_keys(key)
        assert len(raw) == 32
        standard = key.replace("-", "+").replace("_", "/")
        assert parse_keys(standard) == [raw]


async def test_data_converter_encrypts_only_with_a_key_and_without_one_names_the_missing_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    without = data_converter(fast_settings(url, "http://127.0.0.1:9")).payload_codec
    assert isinstance(without, RefuseEncryptedCodec)
    plain = [plain_payload("klar")]
    assert await without.encode(plain) == plain and await without.decode(plain) == plain
    codec = EncryptionCodec.from_keys(generate_payload_key())
    sealed = await codec.encode(plain)
    with pytest.raises(
        ConfigurationError, match=f"key id {codec.key_id}, but YOURMOMENT_PAYLOAD_KEY is not set"
    ):
        await without.decode(sealed)
    with_key = data_converter(
        fast_settings(url, "http://127.0.0.1:9", yourmoment_payload_key=generate_payload_key())
    )
    assert isinstance(with_key.payload_codec, EncryptionCodec)
    assert with_key.payload_converter_class is SharedPydanticPayloadConverter


# --- the codec server --------------------------------------------------------------------------------


def payloads_json(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


def parse_payloads(body: str) -> list[Payload]:
    return list(json_format.Parse(body, Payloads()).payloads)


def preflight_headers(*request_headers: str) -> dict[str, str]:
    """The Web UI's CORS preflight for a POST that sends `request_headers`."""
    return {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ",".join(request_headers),
    }


def allowed_headers(answer: httpx.Response) -> set[str]:
    """The request headers a preflight's answer allows, lower case."""
    return {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}


@pytest.fixture
def codec_server() -> Iterator[tuple[str, EncryptionCodec]]:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    with serve_in_thread(create_codec_app(codec, [UI_ORIGIN])) as server:
        yield server.url, codec


def test_codec_server_encodes_then_decodes(codec_server: tuple[str, EncryptionCodec]) -> None:
    url, _codec = codec_server
    original = plain_payload("Mein Hund heisst Bello")
    with httpx.Client(base_url=url, timeout=10) as http:
        encoded = http.post("/encode", content=payloads_json(original), headers={"X-Namespace": "default"})
        assert encoded.status_code == 200 and encoded.headers["content-type"] == "application/json"
        [sealed] = parse_payloads(encoded.text)
        assert sealed.metadata["encoding"] == ENCODING and b"Bello" not in sealed.data
        # The Web UI posts to <endpoint>/decode with X-Namespace; the CLI's template puts it in the path.
        for path in ("/decode", "/default/decode"):
            decoded = http.post(path, content=encoded.text, headers={"Content-Type": "application/json"})
            assert decoded.status_code == 200, decoded.text
            assert parse_payloads(decoded.text) == [original]
        assert http.get("/health").json() == {"status": "ok"}


def test_codec_server_answers_the_web_ui_preflight(codec_server: tuple[str, EncryptionCodec]) -> None:
    url, _codec = codec_server
    preflight = preflight_headers("content-type", "x-namespace")
    with httpx.Client(base_url=url, timeout=10) as http:
        answer = http.options("/decode", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
        assert {"content-type", "x-namespace"} <= allowed_headers(answer)
        assert "POST" in answer.headers["access-control-allow-methods"]
        # The actual request carries the CORS header too, or the browser drops the answer.
        body = payloads_json(plain_payload("x"))
        actual = http.post("/decode", content=body, headers={"Origin": UI_ORIGIN, "X-Namespace": "default"})
        assert actual.headers["access-control-allow-origin"] == UI_ORIGIN
        # Another site may not have the browser decrypt payloads for it.
        foreign = http.options("/decode", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


def test_codec_server_rejects_bad_requests_clearly(codec_server: tuple[str, EncryptionCodec]) -> None:
    url, _codec = codec_server
    foreign = EncryptionCodec.from_keys(generate_payload_key())
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.post("/decode", content="{not json").status_code == 400
        assert http.post("/decode", content='{"payloads": 3}').status_code == 400
        sealed = foreign.encrypt(plain_payload("x"))
        answer = http.post("/decode", content=payloads_json(sealed))
        assert answer.status_code == 400 and foreign.key_id in answer.json()["error"]
        assert http.get("/decode").status_code == 405


def test_codec_server_can_be_limited_to_namespaces() -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    body = payloads_json(codec.encrypt(plain_payload("x")))
    app = create_codec_app(codec, [UI_ORIGIN], namespaces=["default"])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/decode", content=body, headers={"X-Namespace": "default"}).status_code == 200
        assert http.post("/codec/default/decode", content=body).status_code == 200  # mounted deeper
        assert http.post("/other/decode", content=body).status_code == 403
        assert http.post("/decode", content=body, headers={"X-Namespace": "other"}).status_code == 403


# --- the codec server's doors: token, Host allow-list, CORS ------------------------------------------

TOKEN = "codec-token-" + "7" * 32


@pytest.fixture
def guarded_server() -> Iterator[tuple[str, EncryptionCodec]]:
    """A codec server that requires TOKEN, as one listening beyond loopback must."""
    codec = EncryptionCodec.from_keys(generate_payload_key())
    with serve_in_thread(create_codec_app(codec, [UI_ORIGIN], token=TOKEN)) as server:
        yield server.url, codec


def test_codec_server_with_a_token_requires_it(guarded_server: tuple[str, EncryptionCodec]) -> None:
    url, codec = guarded_server
    body = payloads_json(codec.encrypt(plain_payload("Mein Geheimnis")))
    refused = [
        None,
        f"Bearer {TOKEN[:-1]}x",
        f"Bearer {TOKEN}x",
        TOKEN,
        f"Basic {TOKEN}",
        "Bearer",
        f"bearer{TOKEN}",
        f"Bearer  {TOKEN}",
    ]
    with httpx.Client(base_url=url, timeout=10) as http:
        for auth in refused:
            headers = {"Authorization": auth} if auth is not None else {}
            for path in ("/decode", "/default/decode", "/encode"):
                answer = http.post(path, content=body, headers=headers)
                assert answer.status_code == 401, (auth, path, answer.text)
                assert "Geheimnis" not in answer.text and answer.headers["www-authenticate"] == "Bearer"
        for scheme in ("Bearer", "bearer", "BEARER"):
            good = http.post("/decode", content=body, headers={"Authorization": f"{scheme} {TOKEN}"})
            assert good.status_code == 200 and parse_payloads(good.text) == [plain_payload("Mein Geheimnis")]
        assert http.get("/health").status_code == 200  # the container health check carries no token


def test_codec_server_serves_only_allowed_host_names() -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    body = payloads_json(codec.encrypt(plain_payload("x")))
    app = create_codec_app(codec, [UI_ORIGIN], allowed_hosts=["codec.internal"])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        port = server.port
        for host in (
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            "LOCALHOST",
            f"[::1]:{port}",
            "codec.internal:8081",
            "Codec.Internal.",
        ):
            assert http.post("/decode", content=body, headers={"Host": host}).status_code == 200, host
        # A DNS-rebinding page, a look-alike name, a malformed header: refused before anything else.
        for host in (
            "evil.example",
            f"evil.example:{port}",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "codec.internal.evil",
            "localhost:80:80",
            "[::1",
            "",
            "localhost@evil.example",
        ):
            answer = http.post("/decode", content=body, headers={"Host": host})
            assert answer.status_code == 421, host
            assert http.get("/health", headers={"Host": host}).status_code == 421


def test_codec_server_cors_answers_only_the_configured_origin(
    guarded_server: tuple[str, EncryptionCodec],
) -> None:
    url, codec = guarded_server
    preflight = preflight_headers("authorization", "content-type", "x-namespace")
    body = payloads_json(codec.encrypt(plain_payload("x")))
    with httpx.Client(base_url=url, timeout=10) as http:
        # Browsers send no credentials on a preflight: it is answered without the token.
        answer = http.options("/decode", headers=preflight)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI_ORIGIN
        assert {"authorization", "content-type", "x-namespace"} <= allowed_headers(answer)
        actual = http.post(
            "/decode", content=body, headers={"Origin": UI_ORIGIN, "Authorization": f"Bearer {TOKEN}"}
        )
        assert actual.status_code == 200 and actual.headers["access-control-allow-origin"] == UI_ORIGIN
        # A refusal reaches the UI readable, so it can show why.
        refused = http.post("/decode", content=body, headers={"Origin": UI_ORIGIN})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == UI_ORIGIN
        for origin in (
            "http://evil.example",
            "http://localhost:8081",
            "null",
            "http://localhost:8080.evil.example",
        ):
            foreign = http.options("/decode", headers={**preflight, "Origin": origin})
            assert "access-control-allow-origin" not in foreign.headers, origin
            stolen = http.post(
                "/decode", content=body, headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}"}
            )
            assert "access-control-allow-origin" not in stolen.headers, origin


def test_a_loopback_ui_origin_is_answered_at_localhost_and_127_0_0_1_alike() -> None:
    """`make run` gives http://localhost:PORT; a browser opened at http://127.0.0.1:PORT sends that origin."""
    assert with_loopback_twins(["http://localhost:8233"]) == [
        "http://localhost:8233",
        "http://127.0.0.1:8233",
    ]
    assert with_loopback_twins(["http://127.0.0.1:9", "https://ui.example.org"]) == [
        "http://127.0.0.1:9",
        "http://localhost:9",
        "https://ui.example.org",
    ]
    app = create_codec_app(EncryptionCodec.from_keys(generate_payload_key()), ["http://localhost:8233"])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for origin, answered in (
            ("http://127.0.0.1:8233", True),
            ("http://localhost:8233", True),
            ("http://127.0.0.1:8234", False),  # another port is another UI
        ):
            headers = {**preflight_headers("content-type", "x-namespace"), "Origin": origin}
            answer = http.options("/decode", headers=headers)
            assert ("access-control-allow-origin" in answer.headers) == answered, origin


@pytest.mark.parametrize(
    "origin", ["*", "http://*.example.org", "localhost:8080", "http://ui.example/path", "ftp://x"]
)
def test_codec_server_refuses_a_wildcard_or_malformed_origin(origin: str) -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    with pytest.raises(ConfigurationError, match="--cors-origin"):
        create_codec_app(codec, [origin])


@pytest.mark.parametrize("token", ["short", "x" * 31, "has a space" + "y" * 30])
def test_codec_server_refuses_a_weak_token(token: str) -> None:
    codec = EncryptionCodec.from_keys(generate_payload_key())
    with pytest.raises(ConfigurationError, match="YOURMOMENT_CODEC_TOKEN") as info:
        create_codec_app(codec, [UI_ORIGIN], token=token)
    assert token not in str(info.value)


# --- starter.py codec-server and payload-keygen ------------------------------------------------------


def test_payload_keygen_prints_a_usable_key(env: CliEnv, run_cli: RunCli) -> None:
    result = run_cli("payload-keygen")
    assert result.code == 0
    assert len(parse_keys(result.out.strip())[0]) == 32


def test_codec_server_without_a_key_is_one_clear_line(env: CliEnv, run_cli: RunCli) -> None:
    result = run_cli("codec-server", "--port", "0")
    assert result.code == 2
    assert "YOURMOMENT_PAYLOAD_KEY is not set" in result.err and "Traceback" not in result.err


def start_codec_server(
    tmp_path: Path, port: int, *args: str, stderr: int = subprocess.PIPE, **env_values: str
) -> subprocess.Popen[str]:
    env = hermetic_env(DATABASE_URL=f"sqlite:///{tmp_path / 'n.db'}", **env_values)
    return subprocess.Popen(
        codec_server_command(port, *args),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "codec.example.org"])
def test_codec_server_refuses_a_non_loopback_bind_without_a_token(tmp_path: Path, host: str) -> None:
    proc = start_codec_server(
        tmp_path, free_port(), "--host", host, YOURMOMENT_PAYLOAD_KEY=generate_payload_key()
    )
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the codec server listens on {host} without a token")
    _out, err = proc.communicate()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: refusing to listen on"), err
    assert "YOURMOMENT_CODEC_TOKEN" in lines[0]


def test_codec_server_on_all_interfaces_requires_its_token(tmp_path: Path) -> None:
    key, port = generate_payload_key(), free_port()
    proc = start_codec_server(
        tmp_path,
        port,
        "--host",
        "0.0.0.0",
        "--cors-origin",
        UI_ORIGIN,
        YOURMOMENT_PAYLOAD_KEY=key,
        YOURMOMENT_CODEC_TOKEN=TOKEN,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url)
        body = payloads_json(EncryptionCodec.from_keys(key).encrypt(plain_payload("Pausenplatz")))
        assert httpx.post(f"{url}/decode", content=body, timeout=10).status_code == 401
        answer = httpx.post(
            f"{url}/decode", content=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert parse_payloads(answer.text) == [plain_payload("Pausenplatz")]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert TOKEN not in out + err and key not in out + err


def test_codec_server_refuses_the_payload_key_as_token(tmp_path: Path) -> None:
    key = generate_payload_key()
    proc = start_codec_server(tmp_path, free_port(), YOURMOMENT_PAYLOAD_KEY=key, YOURMOMENT_CODEC_TOKEN=key)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the codec server accepted its payload key as token")
    _out, err = proc.communicate()
    assert code == 2 and "must differ" in err and key not in err


def wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "codec server did not start"
        time.sleep(0.1)


def test_starter_codec_server_serves_the_protocol(tmp_path: Path) -> None:
    old_key, new_key = generate_payload_key(), generate_payload_key()
    port = free_port()
    proc = start_codec_server(
        tmp_path,
        port,
        "--cors-origin",
        UI_ORIGIN,
        stderr=subprocess.STDOUT,
        YOURMOMENT_PAYLOAD_KEY=f"{new_key},{old_key}",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url)
        sealed_by_old = EncryptionCodec.from_keys(old_key).encrypt(plain_payload("alter Schlüssel"))
        answer = httpx.post(f"{url}/decode", content=payloads_json(sealed_by_old), timeout=10)
        assert parse_payloads(answer.text) == [plain_payload("alter Schlüssel")]
        encoded = parse_payloads(
            httpx.post(f"{url}/encode", content=payloads_json(plain_payload("neu"))).text
        )
        assert encoded[0].metadata["encryption-key-id"] == key_id(parse_keys(new_key)[0]).encode()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert "codec server on" in output
    assert new_key not in output and old_key not in output


@pytest.mark.parametrize("host", ["[::1]", "::1"])
def test_codec_server_listens_on_an_ipv6_loopback_literal(tmp_path: Path, host: str) -> None:
    """`--host [::1]` (as in a URL) or `::1`: loopback, so no token; a Web UI at [::1] is an origin too."""
    key, port, ui = generate_payload_key(), free_port(), "http://[::1]:8233"
    proc = start_codec_server(tmp_path, port, "--host", host, "--cors-origin", ui, YOURMOMENT_PAYLOAD_KEY=key)
    try:
        url = f"http://[::1]:{port}"
        wait_healthy(proc, url)
        body = payloads_json(EncryptionCodec.from_keys(key).encrypt(plain_payload("Pausenplatz")))
        answer = httpx.post(f"{url}/decode", content=body, headers={"Origin": ui}, timeout=10)
        assert parse_payloads(answer.text) == [plain_payload("Pausenplatz")]
        assert answer.headers["access-control-allow-origin"] == ui
        preflight = httpx.options(
            f"{url}/decode", headers={**preflight_headers("content-type"), "Origin": ui}
        )
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ui
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=20)
    assert f"codec server on http://[::1]:{port} " in out


# --- a real run, its history read raw ----------------------------------------------------------------

CANARY_NAME = "Schreibwerkstatt Klasse Regenbogen"  # the process name travels in a payload (ProcessConfig)
TITLE = "Der verschwundene Zauberhut von Lina"
PARAGRAPH = "Gestern hat meine Oma einen blauen Hut im Garten vergraben."


@pytest.fixture
def site() -> Iterator[tuple[mymoment.MyMomentState, str, str]]:
    mm_state = mymoment.MyMomentState()
    with Imitations(mm_state) as imitations:
        yield mm_state, imitations.mm_url, imitations.llm_url


async def history_events(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    """The stored events as the server returns them: no data converter, no codec."""
    events: list[HistoryEvent] = []
    token = b""
    while True:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            next_page_token=token,
        )
        response = await client.workflow_service.get_workflow_execution_history(request)
        events.extend(response.history.events)
        token = response.next_page_token
        if not token:
            return events


async def all_histories(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    """The process workflow, every run after continue-as-new, and every child workflow."""
    events: list[HistoryEvent] = []
    pending = [(workflow_id, run_id)]
    while pending:
        wid, rid = pending.pop()
        for event in await history_events(client, wid, rid):
            events.append(event)
            if event.HasField("child_workflow_execution_started_event_attributes"):
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                pending.append((child.workflow_id, child.run_id))
            if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                pending.append(
                    (wid, event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)
                )
    return events


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a proto message (inputs, results, failures, headers, memos)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            values = [value]
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            values = value.values()
        else:
            values = value  # a repeated field
        for item in values:
            if isinstance(item, Message):
                yield from payloads_in(item)


def sdk_versioning(event: HistoryEvent) -> bool:
    """A `workflow.patched` marker, or the SDK's upsert of its TemporalChangeVersion search attribute:
    written by the SDK outside the payload codec and holding only the patch's name ("follow-up-reads";
    the never-in-history check above still reads them)."""
    if event.HasField("marker_recorded_event_attributes"):
        return event.marker_recorded_event_attributes.marker_name == "core_patch"
    if event.HasField("upsert_workflow_search_attributes_event_attributes"):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        return set(fields) == {"TemporalChangeVersion"}
    return False


def comment_body(html: str) -> str:
    """The generated part of a posted comment, without the disclosure paragraph and tags."""
    text = re.sub(r"<[^>]+>", " ", html.replace(f"<p>{PREFIX}</p>", ""))
    return " ".join(text.split())


@pytest.mark.parametrize("encrypted", [True, False], ids=["with-codec", "without-codec"])
async def test_history_holds_no_pupil_text_and_the_codec_hides_the_rest(
    tmp_path: Path,
    site: tuple[mymoment.MyMomentState, str, str],
    encrypted: bool,
    ts_env: WorkflowEnvironment,
) -> None:
    mm_state, mm_url, llm_url = site
    db_url = migrated_sqlite(tmp_path / "h.db")
    payload_key = generate_payload_key() if encrypted else None
    settings = fast_settings(
        db_url,
        mm_url,
        temporal_task_queue_prefix=f"c{uuid.uuid4().hex[:8]}-",
        yourmoment_payload_key=payload_key,
    )
    world = Harness.seed(settings, mm_state, llm_url)
    article_id = mm_state.add_article(
        title=TITLE, author="Lina", class_id=82, category_id=7, paragraphs=[PARAGRAPH, "Ende."]
    )
    process_id = world.create_process(name=CANARY_NAME, max_duration_minutes=30, generate_only=False)
    world.mark_running(process_id)

    client = client_with(ts_env, data_converter(settings))
    async with running_worker(client, settings):
        handle = await processes_client.start_monitoring(
            client, settings, process_id, inp=MonitorInput(process_id=process_id, use_search_attributes=False)
        )
        await wait_until(lambda: _posted(db_url, process_id), what="the comment posted")
        await processes_client.stop(handle)
        assert (await handle.result()).status == "stopped"
    events = await all_histories(client, handle.id, handle.result_run_id or "")

    [comment] = mm_state.comments_for(article_id)
    generated = comment_body(comment["text"])
    assert len(generated) >= 50
    raw = b"".join(event.SerializeToString() for event in events)
    # The reader saw the whole run, children included.
    assert len({e.event_type for e in events}) > 5 and b"ArticleCommentWorkflow" in raw
    # Pupils' texts and secrets never enter a payload, with or without the codec (activities load them by id).
    assert settings.yourmoment_encryption_key
    never_in_history = (
        TITLE,
        PARAGRAPH,
        generated,
        generated[:40],
        "right-password",
        settings.yourmoment_encryption_key,
    )
    for clear in never_in_history:
        assert clear.encode() not in raw, f"found in clear in the history: {clear[:30]!r}"

    payloads = [p for e in events if not sdk_versioning(e) for p in payloads_in(e)]
    assert len(payloads) > 10
    if not encrypted:
        # The control: this reader does see payload contents, so the assertions below can fail.
        assert CANARY_NAME.encode() in raw and b"pupil-1" in raw
        return
    assert CANARY_NAME.encode() not in raw and b"pupil-1" not in raw
    # Patch markers (a patch's name, written by the SDK) and search attributes (indexed by Temporal) stay
    # in clear by design; every payload of ours is encrypted.
    ours = [
        p
        for e in events
        if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED
        for p in payloads_in(e)
        if "type" not in p.metadata
    ]
    assert ours and all(p.metadata["encoding"] == ENCODING for p in ours)
    # What the Web UI does: send the stored payloads to the codec server and read them decoded.
    codec = data_converter(settings).payload_codec
    assert codec is not None
    with serve_in_thread(create_codec_app(codec, [UI_ORIGIN])) as server:
        answer = httpx.post(
            f"{server.url}/decode",
            content=payloads_json(*payloads),
            headers={"X-Namespace": "default"},
            timeout=10,
        )
    decoded = parse_payloads(answer.text)
    assert len(decoded) == len(payloads)
    configs = [p for p in decoded if CANARY_NAME.encode() in p.data]
    assert configs, "the process configuration did not decode"
    config = pydantic_data_converter.payload_converter.from_payloads(configs[:1], [ProcessConfig])[0]
    assert config.name == CANARY_NAME and config.process_id == process_id


def _posted(db_url: str, process_id: str) -> bool:
    with session_scope(db_url) as session:
        return items.counts(session, process_id).posted >= 1


async def test_temporal_cli_reads_encrypted_history_through_the_codec_server(
    dev_env: WorkflowEnvironment,
) -> None:
    """`temporal workflow show --codec-endpoint URL/{namespace}`: docs/operations.md's way to read a history."""
    key = generate_payload_key()
    settings = fast_settings("sqlite://", "http://127.0.0.1:9", yourmoment_payload_key=key)
    client = client_with(dev_env, data_converter(settings))
    # No worker: the start event alone holds an input payload written through the codec.
    await client.start_workflow("Nobody", {"name": CANARY_NAME}, id="codec-cli", task_queue="nobody")
    address = client.service_client.config.target_host
    app = create_codec_app(EncryptionCodec.from_keys(key), [UI_ORIGIN], token=TOKEN)
    with serve_in_thread(app) as codec:
        endpoint = ["--codec-endpoint", f"{codec.url}/{{namespace}}"]
        shown = {
            name: _start_input(address, *extra)
            for name, extra in (
                ("raw", []),
                ("decoded", [*endpoint, "--codec-auth", f"Bearer {TOKEN}"]),
            )
        }
        without_token = _show(address, *endpoint)
    assert shown["raw"].metadata["encoding"] == ENCODING and CANARY_NAME.encode() not in shown["raw"].data
    assert shown["decoded"].metadata["encoding"] == b"json/plain"
    assert CANARY_NAME.encode() in shown["decoded"].data
    # Without the token the codec server decodes nothing for the CLI.
    assert without_token.returncode != 0 and CANARY_NAME not in without_token.stdout


def _show(address: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            temporal_binary("temporal"),
            "workflow",
            "show",
            "-w",
            "codec-cli",
            "--address",
            address,
            "--output",
            "json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _start_input(address: str, *extra: str) -> Payload:
    out = _show(address, *extra)
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    return parse_payloads(json.dumps(started["input"]))[0]
