"""Log output: JSON lines carry Temporal's workflow and activity ids; no secret of a URL reaches a log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from yourmoment.errors import ConfigurationError
from yourmoment.llm.client import LLMClient, ProviderConfig
from yourmoment.logs import JsonFormatter, configure_logging, redact_url
from yourmoment.mymoment.client import MemorySessionStore, MyMomentClient
from yourmoment.ratelimit import LocalRateLimiter
from yourmoment.settings import Settings


def test_json_lines_carry_temporal_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    context = {"workflow_id": "article-p-l-4501", "activity_type": "post_comment", "attempt": 2}
    logger.info("comment posted item_id=%s", "abc", extra={"temporal_activity": context})
    line = json.loads(stream.getvalue())
    assert line["message"] == "comment posted item_id=abc"
    assert line["workflow_id"] == "article-p-l-4501" and line["activity_type"] == "post_comment"
    assert line["attempt"] == 2 and line["level"] == "INFO"


# --- no secret of a URL in a log ----------------------------------------------------------------------

SECRET = "Pw-7f3kQ9zX"  # a password or key held in a URL; it must never reach a log line
QUERY_SECRET = "Qs-K4m2Vb8nT"  # a value in a query string, e.g. ?key=… or ?search=…


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging() replaces the root handlers and sets library levels: put everything back."""
    root = logging.getLogger()
    names = ("httpx", "httpx2", "httpcore", "openai", "yourmoment")
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names})
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def credentialed(url: str) -> str:
    """The same server, with a user name and password in the URL."""
    return url.replace("://", f"://reader:{SECRET}@", 1)


def configured_logs(level: str, log_format: str, libraries_at: int | None) -> list[logging.LogRecord]:
    """The worker's logging (configure_logging) to stderr at `level` as `log_format`; with `libraries_at`, the HTTP
    libraries' loggers turned up as an operator debugging a connection would. Returns the records the
    worker's handler passed on, as any later handler sees them."""
    configure_logging(Settings(_env_file=None, log_level=level, log_format=log_format))  # type: ignore[call-arg]
    if libraries_at is not None:
        for name in ("httpx", "httpx2", "httpcore", "openai"):
            logging.getLogger(name).setLevel(libraries_at)
    records: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(collector)
    return records


def assert_no_secret(text: str) -> None:
    assert SECRET not in text and QUERY_SECRET not in text, text


@pytest.mark.parametrize(
    "level,log_format,libraries_at",
    [("INFO", "text", None), ("DEBUG", "text", logging.DEBUG), ("DEBUG", "json", logging.DEBUG)],
)
async def test_requests_through_the_real_clients_log_no_secret_of_their_url(  # type: ignore[no-untyped-def]
    level, log_format, libraries_at, restored_logging, capsys, llm_server, mymoment_server
) -> None:
    """The LLM provider's URL holds a password (as stored before such URLs were refused) and the myMoment
    list is searched for a term in its query string: neither reaches a log line or a record, at the
    worker's default level and with every HTTP library's logger at DEBUG. (A myMoment base URL with a
    password is refused by the settings: the site's Referer check would refuse it anyway.)"""
    records = configured_logs(level, log_format, libraries_at)
    llm = LLMClient(
        ProviderConfig(
            provider="openai-compatible",
            model="imitation-mini",
            base_url=credentialed(llm_server.url) + "/v1",
        ),
        timeout=10,
    )
    async with llm:
        answer = await llm.complete([{"role": "user", "content": "Schreibe einen Satz."}])
    assert answer.text  # the request went through
    state = mymoment_server.state
    state.add_class(82, "Klasse 4a", "Schule Nord")
    state.add_account("pupil-anna", "Geheim-Anna-42", "pupil", [82])
    state.add_article("Mein Hund", "kind1", class_id=82, paragraphs=["Er bellt."])
    site = MyMomentClient(
        mymoment_server.url,
        login_id="login-1",
        username="pupil-anna",
        password="Geheim-Anna-42",
        session_store=MemorySessionStore(),
        limiter=LocalRateLimiter(),
        rate_per_second=500,
        burst=50,
    )
    async with site:
        assert await site.list_articles("82", search=QUERY_SECRET) == []
    logging.getLogger("yourmoment.test").warning("cannot reach %s", f"redis://:{SECRET}@127.0.0.1:6379/0")
    try:
        raise ConfigurationError(
            f"no database at postgresql://app:{SECRET}@db.internal/app?password={SECRET}"
        )
    except ConfigurationError:
        logging.getLogger("yourmoment.test").exception("start-up failed")
    written = capsys.readouterr().err
    assert "HTTP Request" in written or libraries_at is None  # the libraries did log their requests
    assert "redis://***@127.0.0.1:6379/0" in written and "postgresql://***@db.internal/app?***" in written
    assert_no_secret(written)
    for record in records:
        assert_no_secret(record.getMessage())


@pytest.mark.parametrize(
    "url,shown",
    [
        ("http://user:pw@host:8080/v1?key=k#frag", "http://***@host:8080/v1?***#***"),
        ("https://api.example.org/v1", "https://api.example.org/v1"),
        ("postgresql+psycopg://app:p%40ss@db/app", "postgresql+psycopg://***@db/app"),
        ("redis://:pw@cache:6379/0?ssl_cert_reqs=none", "redis://***@cache:6379/0?***"),
        ("sqlite:////var/lib/yourmoment.db", "sqlite:////var/lib/yourmoment.db"),
        ("user:pw@temporal:7233", "***@temporal:7233"),  # a Temporal address is HOST:PORT, no scheme
        ("temporal:7233", "temporal:7233"),
    ],
)
def test_redact_url_hides_user_info_query_and_fragment(url: str, shown: str) -> None:
    assert redact_url(url) == shown
