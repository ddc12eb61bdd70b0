"""Bad input, table-driven: every bad setting or argument is one `error:` line, exit 2, and changes nothing.

Each row runs an entry point (`starter.py` or `worker.py`) on a copy of one seeded SQLite database,
with its own environment, working folder (`.env`) and stdin, and compares a full dump of that database
before and after. Most rows call the entry point in-process (the parsers, settings and checks are the
same code); the rows in SUBPROCESS_ROWS run the real program as a user starts it, so the start-up
around them (argument and environment bytes, stdin, the exit without teardown) is covered too.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import select, text
from temporalio.testing import WorkflowEnvironment

from tests.conftest import LLMServer, MyMomentServer, client_with, migrated_sqlite
from tests.support import process_create, provider_add, start_monitoring
from yourmoment import processes_client
from yourmoment.codec import EncryptionCodec, generate_payload_key
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.settings import Settings
from yourmoment.store import accounts, processes, templates
from yourmoment.store.db import get_engine, session_scope, upgrade
from yourmoment_dev.harness import REPO, Harness, fast_settings, running_worker, wait_until

TEMPLATE = "Ermutigendes Feedback"
UNREACHABLE_TEMPORAL = "127.0.0.1:9"
PORT_IN_USE = "{port_in_use}"  # replaced by a port this test holds open
SECRET, DB_USER = "pw-Geheim-7", "dbuser-x7"  # in URLs below: an expected line that held them would fail
POSTGRES_DOWN = f"postgresql://{DB_USER}:{SECRET}@127.0.0.1:1/yourmoment?connect_timeout=3"  # port 1: refused
PAYLOAD_KEY = generate_payload_key()


@dataclass(frozen=True)
class Case:
    """One bad input: the program, its arguments (bytes allowed), extra environment and stdin."""

    id: str
    args: tuple[str | bytes, ...]
    error: str  # the whole expected stderr line
    env: dict[str, str | bytes] = field(default_factory=dict)
    stdin: bytes = b""
    program: str = "starter.py"
    dotenv: bytes | None = None


def create(*extra: str) -> tuple[str, ...]:
    base = {
        "--name": "Klasse 9",
        "--tab": "82",
        "--provider": "gpt",
        "--login": "bot-1",
        "--prompt": TEMPLATE,
    }
    for option, value in zip(extra[::2], extra[1::2], strict=True):
        base[option] = value
    return ("process", "create", *(part for pair in base.items() for part in pair))


def provider(*extra: str) -> tuple[str, ...]:
    return tuple(provider_add("local", "llama3", *extra, base_url="http://localhost:11434/v1"))


LONG = "x" * 201
OVER_INT32 = str(2**31)
HUGE = "9" * 20
HELP_CREATE = "(see 'starter.py process create --help')"
URL_SECRET = "Pw-in-url-5e6f"
URL_CREDENTIALS = (
    "--base-url must not hold a user name, password or query string (they would be stored and "
    "logged); give the API key with --api-key-stdin"
)

CASES = [
    # --- settings, read by the CLI ------------------------------------------------------------------
    Case(
        "rate-abc",
        ("user", "list"),
        "error: invalid setting SCRAPING_RATE_LIMIT='abc': must be a number greater than 0",
        env={"SCRAPING_RATE_LIMIT": "abc"},
    ),
    Case(
        "rate-inf",
        ("user", "list"),
        "error: invalid setting SCRAPING_RATE_LIMIT='inf': must be a number greater than 0",
        env={"SCRAPING_RATE_LIMIT": "inf"},
    ),
    Case(
        "rate-nan",
        ("user", "list"),
        "error: invalid setting SCRAPING_RATE_LIMIT='nan': must be a number greater than 0",
        env={"SCRAPING_RATE_LIMIT": "nan"},
    ),
    Case(
        "rate-zero",
        ("user", "list"),
        "error: invalid setting SCRAPING_RATE_LIMIT='0': must be a number greater than 0",
        env={"SCRAPING_RATE_LIMIT": "0"},
    ),
    Case(
        "metrics-empty",
        ("user", "list"),
        "error: invalid setting METRICS_PORT='': must be a whole number between 1 and 65535, or unset",
        env={"METRICS_PORT": ""},
    ),
    Case(
        "metrics-range",
        ("user", "list"),
        "error: invalid setting METRICS_PORT='70000': must be a whole number between 1 and 65535, or unset",
        env={"METRICS_PORT": "70000"},
    ),
    Case(
        "log-format",
        ("user", "list"),
        "error: invalid setting LOG_FORMAT='xml': must be one of text, json",
        env={"LOG_FORMAT": "xml"},
    ),
    Case(
        "log-level",
        ("user", "list"),
        "error: invalid setting LOG_LEVEL='LOUD': must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        env={"LOG_LEVEL": "loud"},
    ),
    Case(
        "db-url-scheme",
        ("user", "list"),
        "error: invalid setting DATABASE_URL: must be sqlite:///PATH or postgresql://USER@HOST/DB",
        env={"DATABASE_URL": "mysql://root@localhost/app"},
    ),
    Case(
        "db-url-malformed",
        ("user", "list"),
        "error: invalid setting DATABASE_URL: must be sqlite:///PATH or postgresql://USER@HOST/DB",
        env={"DATABASE_URL": "yourmoment.db"},
    ),
    Case(
        "articles-range",
        ("user", "list"),
        "error: invalid setting MAX_ARTICLES_PER_REQUEST='1000': must be a whole number between 1 and 100",
        env={"MAX_ARTICLES_PER_REQUEST": "1000"},
    ),
    Case(
        "comment-rate-negative",
        ("user", "list"),
        "error: invalid setting COMMENT_RATE_LIMIT_SECONDS='-1': must be a number between 0 and 86400",
        env={"COMMENT_RATE_LIMIT_SECONDS": "-1"},
    ),
    Case(
        "timeout-zero",
        ("user", "list"),
        "error: invalid setting MYMOMENT_TIMEOUT='0': must be a number greater than 0 and at most 3600",
        env={"MYMOMENT_TIMEOUT": "0"},
    ),
    Case(
        "bool",
        ("user", "list"),
        "error: invalid setting TEMPORAL_SEARCH_ATTRIBUTES='maybe': must be true or false",
        env={"TEMPORAL_SEARCH_ATTRIBUTES": "maybe"},
    ),
    Case(
        "retention-overflow",
        ("user", "list"),
        f"error: invalid setting RETENTION_DAYS='{HUGE}': must be a whole number between 1 and 36500",
        env={"RETENTION_DAYS": HUGE},
    ),
    Case(
        "interval-setting",
        ("user", "list"),
        "error: invalid setting ARTICLE_DISCOVERY_INTERVAL_SECONDS='1': must be a whole number between 5 and 86400",
        env={"ARTICLE_DISCOVERY_INTERVAL_SECONDS": "1"},
    ),
    Case(
        "comment-lengths",
        ("user", "list"),
        "error: invalid setting COMMENT_MAX_LENGTH: must be at least COMMENT_MIN_LENGTH (500 < 600)",
        env={"COMMENT_MIN_LENGTH": "600", "COMMENT_MAX_LENGTH": "500"},
    ),
    Case(
        "base-url",
        ("user", "list"),
        "error: invalid setting MYMOMENT_BASE_URL: must be an http:// or https:// URL with a host",
        env={"MYMOMENT_BASE_URL": "www.mymoment.ch"},
    ),
    Case(
        "base-url-password",
        ("user", "list"),
        "error: invalid setting MYMOMENT_BASE_URL: must not hold a user name or password "
        "(myMoment's form check refuses them, and they would reach logs)",
        env={"MYMOMENT_BASE_URL": f"https://pupil:{URL_SECRET}@www.mymoment.ch"},
    ),
    Case(
        "temporal-url-password",
        ("schedules", "list"),
        "error: TEMPORAL_ADDRESS (or --address) 'http://***@localhost:7233' is a URL; "
        "give HOST:PORT, e.g. localhost:7233",
        env={"TEMPORAL_ADDRESS": f"http://ops:{URL_SECRET}@localhost:7233"},
    ),
    Case(
        "redis-url",
        ("user", "list"),
        "error: invalid setting REDIS_URL: must be a redis://, rediss:// or unix:// URL",
        env={"REDIS_URL": "localhost:6379"},
    ),
    Case(
        "two-settings",
        ("user", "list"),
        "error: invalid setting SCRAPING_BURST_LIMIT='0': must be a whole number at least 1; "
        "LOG_FORMAT='xml': must be one of text, json",
        env={"SCRAPING_BURST_LIMIT": "0", "LOG_FORMAT": "xml"},
    ),
    Case(
        "dotenv-value",
        ("user", "list"),
        "error: invalid setting LOG_FORMAT='xml': must be one of text, json",
        dotenv=b"LOG_FORMAT=xml\n",
    ),
    Case(
        "dotenv-not-utf8",
        ("user", "list"),
        "error: .env is not UTF-8 text; save it as UTF-8",
        dotenv=b"YOURMOMENT_DEFAULT_USER=lehrerin-\xe4@example.ch\n",
    ),
    Case(
        "dotenv-garbage-line",
        ("user", "list"),
        "error: .env line 3 is not NAME=value (nor a comment); fix or remove it",
        dotenv=b"LOG_FORMAT=text\n\nYOURMOMENT_ENCRYPTION_KEY sk-geheim-1\nLOG_LEVEL=INFO\n",
    ),
    Case(
        "dotenv-unclosed-quote",
        ("user", "list"),
        "error: .env line 2 is not NAME=value (nor a comment); fix or remove it",
        dotenv=b'# yourMoment\nCONTACT="ops@example.ch\nLOG_LEVEL=INFO\n',
    ),
    Case(
        "db-url-sqlite-option",
        ("user", "list"),
        "error: invalid setting DATABASE_URL: option 'foo' is not used with SQLite (it takes none here); "
        "remove it",
        env={"DATABASE_URL": "sqlite:///yourmoment.db?foo=bar"},
    ),
    Case(
        "db-url-postgres-option",
        ("user", "list"),
        "error: invalid setting DATABASE_URL: option 'pool' is not a PostgreSQL connection option "
        "(libpq's, such as sslmode or connect_timeout); remove it",
        env={"DATABASE_URL": f"postgresql://{DB_USER}:{SECRET}@127.0.0.1:1/ym?sslmode=require&pool=5"},
    ),
    Case(
        "database-down",
        ("process", "list"),
        "error: PostgreSQL at 127.0.0.1:1 refused the connection (DATABASE_URL)",
        env={"DATABASE_URL": POSTGRES_DOWN},
    ),
    Case(
        "env-not-utf8",
        ("user", "list"),
        "error: invalid setting YOURMOMENT_DEFAULT_USER: must be UTF-8 text",
        env={"YOURMOMENT_DEFAULT_USER": b"lehrerin-\xe4@example.ch"},
    ),
    # --- the worker ---------------------------------------------------------------------------------
    Case(
        "worker-log-format",
        (),
        "error: invalid setting LOG_FORMAT='json-lines': must be one of text, json",
        env={"LOG_FORMAT": "json-lines"},
        program="worker.py",
    ),
    Case(
        "worker-rate-1e309",
        (),
        "error: invalid setting SCRAPING_RATE_LIMIT='1e309': must be a number greater than 0",
        env={"SCRAPING_RATE_LIMIT": "1e309"},
        program="worker.py",
    ),
    Case(
        "worker-metrics-in-use",
        (),
        f"error: METRICS_PORT={PORT_IN_USE}: the port is in use; choose a free port or unset METRICS_PORT",
        env={"METRICS_PORT": PORT_IN_USE},
        program="worker.py",
    ),
    Case(
        "worker-health-in-use",
        (),
        f"error: HEALTH_PORT={PORT_IN_USE}: the port is in use; choose a free port or unset HEALTH_PORT",
        env={"HEALTH_PORT": PORT_IN_USE},
        program="worker.py",
    ),
    Case(
        "worker-notify-url-unknown",
        (),
        "error: NOTIFY_URLS: entry 2 (nosuchservice://…) is not a notification URL apprise can use "
        "(unknown service or a part missing; see https://github.com/caronc/apprise/wiki)",
        env={"NOTIFY_URLS": f"json://127.0.0.1:9/hook,nosuchservice://{SECRET}@host/x"},
        program="worker.py",
    ),
    Case(
        "worker-notify-interval",
        (),
        "error: invalid setting NOTIFY_MIN_INTERVAL: must be a duration from 0 to 7d, such as 15m, 90s, "
        "1h or 1d, or a number of seconds",
        env={"NOTIFY_MIN_INTERVAL": "soon"},
        program="worker.py",
    ),
    Case(
        "worker-redis-down",
        (),
        "error: Redis at 127.0.0.1:1 refused the connection (REDIS_URL)",
        env={"REDIS_URL": f"redis://:{SECRET}@127.0.0.1:1/0"},
        program="worker.py",
    ),
    Case(
        "worker-database-down",
        (),
        "error: PostgreSQL at 127.0.0.1:1 refused the connection (DATABASE_URL)",
        env={"DATABASE_URL": POSTGRES_DOWN},
        program="worker.py",
    ),
    Case(
        "worker-concurrency",
        ("--concurrency", "0"),
        "error: --concurrency must be at least 1 (see 'worker.py --help')",
        program="worker.py",
    ),
    Case(
        "worker-concurrency-abc",
        ("--concurrency", "abc"),
        "error: argument --concurrency: invalid int value: 'abc' (see 'worker.py --help')",
        program="worker.py",
    ),
    Case(
        "worker-queue",
        ("--task-queues", "timeouts"),
        "error: unknown task queue(s) timeouts; choose from monitoring, comments, sessions, maintenance "
        "(see 'worker.py --help')",
        program="worker.py",
    ),
    Case(
        "worker-arg-not-utf8",
        ("--address", b"temporal-\xff:7233"),
        r"error: argument 2 ('temporal-\udcff:7233') is not UTF-8 text",
        program="worker.py",
    ),
    Case(
        "worker-address-url",
        ("--address", "http://127.0.0.1:7233"),
        "error: TEMPORAL_ADDRESS (or --address) 'http://127.0.0.1:7233' is a URL; give HOST:PORT, e.g. localhost:7233",
        program="worker.py",
    ),
    Case(
        "worker-address-password",
        ("--address", f"http://ops:{URL_SECRET}@127.0.0.1:7233"),
        "error: TEMPORAL_ADDRESS (or --address) 'http://***@127.0.0.1:7233' is a URL; give HOST:PORT, e.g. localhost:7233",
        program="worker.py",
    ),
    Case(
        "address-url",
        ("schedules", "list"),
        "error: TEMPORAL_ADDRESS (or --address) 'https://temporal.example.ch:7233' is a URL; give HOST:PORT, "
        "e.g. localhost:7233",
        env={"TEMPORAL_ADDRESS": "https://temporal.example.ch:7233"},
    ),
    Case(
        "worker-database-missing",
        (),
        "error: the database file /nonexistent-dir/yourmoment.db does not exist; run where your .env is, "
        "or 'starter.py db upgrade' to create it",
        env={"DATABASE_URL": "sqlite:////nonexistent-dir/yourmoment.db"},
        program="worker.py",
    ),
    # --- processes ----------------------------------------------------------------------------------
    *(
        Case(
            f"weight-{name}",
            create("--prompt", f"{TEMPLATE}:{weight}"),
            f"error: --prompt '{TEMPLATE}': the weight must be a number greater than 0 and at most 1000000, not {shown}",
        )
        for name, weight, shown in [
            ("inf", "inf", "inf"),
            ("1e309", "1e309", "inf"),
            ("nan", "nan", "nan"),
            ("negative", "-2", "-2"),
        ]
    ),
    Case(
        "category-overflow",
        create("--category", HUGE),
        f"error: --category must be a whole number between 1 and 2147483647, not {HUGE}",
    ),
    Case(
        "task-negative",
        create("--task", "-5"),
        "error: --task must be a whole number between 1 and 2147483647, not -5",
    ),
    Case("name-long", create("--name", LONG), "error: --name must be at most 200 characters, not 201"),
    Case(
        "name-invisible",
        create("--name", "\u200b \u2060"),
        "error: --name is empty once invisible characters are removed",
    ),
    Case(
        "name-control",
        create("--name", "Klasse\x07 9"),
        "error: --name must not contain control characters (U+0007)",
    ),
    Case(
        "update-name-control",
        ("process", "update", "Klasse 82", "--name", "Klasse\x1b[2J 82"),
        "error: --name must not contain control characters (U+001B)",
    ),
    Case("search-long", create("--search", LONG), "error: --search must be at most 200 characters, not 201"),
    Case("tab-long", create("--tab", "8" * 33), "error: --tab must be at most 32 characters, not 33"),
    Case(
        "interval-range",
        create("--interval", "100000"),
        "error: --interval must be a whole number between 5 and 86400, not 100000",
    ),
    Case(
        "duration-abc",
        create("--max-duration", "abc"),
        f"error: argument --max-duration: invalid int value: 'abc' {HELP_CREATE}",
    ),
    Case(
        "prompt-mode",
        create("--prompt-mode", "sometimes"),
        f"error: argument --prompt-mode: invalid choice: 'sometimes' (choose from 'weighted', 'all') {HELP_CREATE}",
    ),
    Case(
        "prompt-twice",
        tuple(process_create("Klasse 9", "gpt", "bot-1", f"{TEMPLATE}:1", "--prompt", f"{TEMPLATE}:2")),
        "error: --prompt names one template more than once",
    ),
    Case("login-twice", (*create(), "--login", "bot-1"), "error: --login names 'bot-1' more than once"),
    Case(
        "update-weight",
        ("process", "update", "Klasse 82", "--prompt", f"{TEMPLATE}:1e400"),
        f"error: --prompt '{TEMPLATE}': the weight must be a number greater than 0 and at most 1000000, not inf",
    ),
    Case(
        "update-name-long",
        ("process", "update", "Klasse 82", "--name", LONG),
        "error: --name must be at most 200 characters, not 201",
    ),
    # --- providers ----------------------------------------------------------------------------------
    Case(
        "temperature-nan",
        provider("--temperature", "nan"),
        "error: --temperature must be a number between 0 and 2, not nan",
    ),
    Case(
        "temperature-inf",
        provider("--temperature", "inf"),
        "error: --temperature must be a number between 0 and 2, not inf",
    ),
    Case(
        "max-tokens-overflow",
        provider("--max-tokens", OVER_INT32),
        f"error: --max-tokens must be a whole number between 1 and 2147483647, not {OVER_INT32}",
    ),
    Case(
        "rpm-zero",
        provider("--rpm", "0"),
        "error: --rpm must be a whole number between 1 and 2147483647, not 0",
    ),
    Case("model-long", provider("--model", LONG), "error: --model must be at most 200 characters, not 201"),
    Case(
        "provider-base-url",
        provider("--base-url", "localhost:11434/v1"),
        "error: --base-url must be an http:// or https:// URL with a host, not 'localhost:11434/v1'",
    ),
    # A URL that holds a secret is refused without echoing it (keys go through --api-key-stdin).
    Case(
        "provider-url-password",
        provider("--base-url", f"http://reader:{URL_SECRET}@localhost:11434/v1"),
        f"error: {URL_CREDENTIALS}",
    ),
    Case(
        "provider-url-query",
        provider("--base-url", f"https://llm.example.org/v1?api_key={URL_SECRET}"),
        f"error: {URL_CREDENTIALS}",
    ),
    Case(
        "set-url-password",
        ("provider", "set", "gpt", "--base-url", f"https://key:{URL_SECRET}@api.openai.com/v1"),
        f"error: {URL_CREDENTIALS}",
    ),
    Case(
        "not-a-url-with-password",
        provider("--base-url", f"ftp://reader:{URL_SECRET}@localhost/v1"),
        "error: --base-url must be an http:// or https:// URL with a host, not 'ftp://***@localhost/v1'",
    ),
    Case(
        "max-concurrency-zero",
        provider("--max-concurrency", "0"),
        "error: --max-concurrency must be a whole number between 1 and 1000, not 0",
    ),
    Case(
        "max-concurrency-abc",
        provider("--max-concurrency", "two"),
        "error: argument --max-concurrency: invalid int value: 'two' (see 'starter.py provider add --help')",
    ),
    Case(
        "structured-mode",
        provider("--structured", "json"),
        "error: --structured must be json_schema or off, not 'json'",
    ),
    Case(
        "set-max-concurrency",
        ("provider", "set", "gpt", "--max-concurrency", "1001", "--structured", "on"),
        "error: --max-concurrency must be a whole number between 1 and 1000, not 1001; "
        "--structured must be json_schema or off, not 'on'",
    ),
    Case(
        "set-nothing",
        ("provider", "set", "gpt"),
        "error: nothing to change: give at least one setting (see 'starter.py provider set --help')",
    ),
    Case(
        "set-unknown-provider",
        ("provider", "set", "llama", "--max-concurrency", "1"),
        "error: no active provider 'llama'; see 'starter.py provider list'",
    ),
    Case(
        "set-temperature",
        ("provider", "set", "gpt", "--temperature", "nan", "--max-tokens", "0"),
        "error: --temperature must be a number between 0 and 2, not nan; "
        "--max-tokens must be a whole number between 1 and 2147483647, not 0",
    ),
    Case(
        "set-empty-key",
        ("provider", "set", "gpt", "--api-key-stdin"),
        "error: a openai provider needs an API key",
    ),
    Case(
        "provider-name-long",
        tuple(provider_add("p" * 101, "m", base_url="http://localhost:11434/v1")),
        "error: the provider name must be at most 100 characters, not 101",
    ),
    # --- logins, templates, users, arguments ----------------------------------------------------------
    Case(
        "login-name-long",
        ("login", "add", "b" * 101, "--username", "u", "--password-stdin"),
        "error: the login name must be at most 100 characters, not 101",
        stdin=b"pw\n",
    ),
    Case(
        "password-not-utf8",
        ("login", "add", "bot-9", "--username", "u", "--password-stdin"),
        "error: stdin is not UTF-8 text",
        stdin=b"pass\xe4wort\n",
    ),
    Case(
        "login-arg-not-utf8",
        ("login", "add", b"bot-\xff", "--username", "u", "--password-stdin"),
        r"error: argument 3 ('bot-\udcff') is not UTF-8 text",
        stdin=b"pw\n",
    ),
    Case(
        "template-name-long",
        ("template", "add", LONG, "--system", "Sei nett.", "--user", "{article_title}"),
        "error: the template name must be at most 200 characters, not 201",
    ),
    Case(
        "template-nul",
        ("template", "add", "Mein", "--system-file", "nul.txt", "--user", "{article_title}"),
        "error: the system prompt must not contain NUL characters",
    ),
    Case(
        "email-long",
        ("user", "add", "a" * 310 + "@example.ch"),
        "error: the e-mail address must be at most 320 characters, not 321",
    ),
    Case(
        "email-no-domain",
        ("user", "add", "lehrerin@schule"),
        "error: 'lehrerin@schule' is not an e-mail address (like lehrerin@schule.ch)",
    ),
    Case(
        "email-display-name",
        ("user", "add", "Anna <anna@schule.ch>"),
        "error: 'anna <anna@schule.ch>' is not an e-mail address (like lehrerin@schule.ch)",
    ),
    Case(
        "email-two-at",
        ("user", "add", "anna@@schule.ch"),
        "error: 'anna@@schule.ch' is not an e-mail address (like lehrerin@schule.ch)",
    ),
    Case(
        "login-test-unknown",
        ("login", "test", "nobody"),
        "error: no active login named 'nobody'; see 'starter.py login list'",
    ),
    Case(
        "codec-origin-ipv6-unclosed",
        ("codec-server", "--port", "0", "--cors-origin", "http://[::1:8233"),
        "error: --cors-origin 'http://[::1:8233' is not an origin like https://temporal-ui.example.org",
        env={"YOURMOMENT_PAYLOAD_KEY": PAYLOAD_KEY},
    ),
    Case(
        "codec-host-unclosed",
        ("codec-server", "--host", "[::1", "--port", "0"),
        "error: --host '[::1' is not an IP address or a host name",
        env={"YOURMOMENT_PAYLOAD_KEY": PAYLOAD_KEY},
    ),
    Case(
        "unknown-action",
        ("login", "frobnicate"),
        "error: argument ACTION: invalid choice: 'frobnicate' (choose from 'add', 'list', 'test', 'remove') "
        "(see 'starter.py login --help')",
    ),
    Case(
        "monitor-interval",
        ("monitor", "--interval", "nan"),
        "error: argument --interval: must be a number between 0.1 and 3600, not 'nan' "
        "(see 'starter.py monitor --help')",
    ),
    Case(
        "codec-port",
        ("codec-server", "--port", "70000"),
        "error: argument --port: must be a whole number between 0 and 65535, not '70000' "
        "(see 'starter.py codec-server --help')",
    ),
    Case(
        "post-id-and-process",
        ("post", "0123abcd", "--process", "Klasse 82"),
        "error: name a comment id or use --process, not both",
    ),
    Case(
        "comments-status",
        ("comments", "Klasse 82", "--status", "done"),
        "error: argument --status: invalid choice: 'done' (choose from 'discovered', 'prepared', 'generated', "
        "'posting', 'posted', 'failed', 'skipped', 'regenerating') (see 'starter.py comments list --help')",
    ),
    Case(
        "user-arg-not-utf8",
        ("--user", b"lehrerin-\xe4@example.ch", "process", "list"),
        r"error: argument 2 ('lehrerin-\udce4@example.ch') is not UTF-8 text",
    ),
]


# --- the seeded database ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One database with a user, a login, a provider, the system templates and a process; copied per row."""
    path = tmp_path_factory.mktemp("seed") / "seed.db"
    url, key = f"sqlite:///{path}", generate_key()
    upgrade(url)
    enc = Encryptor(key)
    with session_scope(url) as session:
        user = accounts.add_user(session, "lehrerin@example.ch")
        accounts.add_login(session, enc, user, "bot-1", "pupil1", "pw", False, base_url="http://127.0.0.1:9")
        accounts.add_provider(
            session,
            enc,
            user,
            name="gpt",
            provider="openai",
            model="gpt-4o-mini",
            base_url=None,
            api_key="sk-test",
        )
        templates.seed_system_templates(session)
        spec = processes.ProcessSpec(
            name="Klasse 82",
            tab="82",
            provider="gpt",
            logins=["bot-1"],
            prompts=[(TEMPLATE, 2.0)],
            max_duration_minutes=60,
            discovery_interval_seconds=60,
        )
        processes.create_process(session, user, spec)
    engine = get_engine(url)
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    yield path, key


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def clean_env(**values: str | bytes) -> dict[str, str | bytes]:
    """The developer's environment without any setting of ours, plus `values`."""
    ours = {name.upper() for name in Settings.model_fields} | {"DEFAULT_USER"}
    env: dict[str, str | bytes] = {
        k: v
        for k, v in os.environ.items()
        if k not in ours and not k.startswith(("YOURMOMENT_", "TEMPORAL_"))
    }
    env.update(values)
    return env


@pytest.fixture
def port_in_use() -> Iterator[int]:
    """A port that something else listens on (the metrics endpoint cannot bind it)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_missing_database_file_is_named_and_not_created(
    seeded: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run from another folder, a relative SQLite URL points at nothing: say so, create nothing (the first
    command as a subprocess, the others in-process)."""
    _seed_path, key = seeded
    env = clean_env(DATABASE_URL="sqlite:///yourmoment.db", YOURMOMENT_ENCRYPTION_KEY=key)
    for args in (("process", "list"), ("export", "Klasse 82"), ("comments", "Klasse 82")):
        case = Case("missing-database", args, "")
        if args[0] == "process":
            code, stderr = run_subprocess(case, tmp_path, env)
        else:
            with monkeypatch.context() as patch:
                code, stderr = run_in_process(case, tmp_path, env, patch, capsys)
        assert stderr.splitlines() == [
            f"error: the database file {tmp_path / 'yourmoment.db'} does not exist (DATABASE_URL "
            "sqlite:///yourmoment.db is read from the folder you run in); run where your .env is, or "
            "'starter.py db upgrade' to create it"
        ], stderr
        assert code == 2
        assert list(tmp_path.iterdir()) == [], "a database file was created"


# Rows run as a subprocess of the real program: non-UTF-8 bytes in an argument, the environment and stdin,
# a setting, and the worker's start-up (its logging settings, its metrics port, its arguments).
SUBPROCESS_ROWS = frozenset(
    {
        "rate-abc",
        "env-not-utf8",
        "password-not-utf8",
        "user-arg-not-utf8",
        "worker-log-format",
        "worker-metrics-in-use",
        "worker-arg-not-utf8",
    }
)


def run_subprocess(case: Case, cwd: Path, env: dict[str, str | bytes]) -> tuple[int, str]:
    """The real program in its own process; its exit code and stderr."""
    proc = subprocess.run(
        [sys.executable, str(REPO / case.program), *case.args],
        cwd=cwd,
        env=env,
        input=case.stdin,
        capture_output=True,
        timeout=60,
    )
    return proc.returncode, proc.stderr.decode("utf-8", "backslashreplace")


def run_in_process(
    case: Case,
    cwd: Path,
    env: dict[str, str | bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """The entry point's function in this process, with the same environment, folder, arguments and stdin
    as the program would get (bytes arrive as Python hands them in: surrogate-escaped)."""
    import starter
    from yourmoment import worker_main
    from yourmoment.cli.main import run as run_starter
    from yourmoment.settings import reset_settings_cache

    monkeypatch.chdir(cwd)
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, os.fsdecode(value))
    stdin = io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    argv = [os.fsdecode(arg) for arg in case.args]

    def exit_process(code: int) -> NoReturn:
        raise SystemExit(code)

    # The worker configures the root logger: give it back as it was.
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.setattr(worker_main, "exit_process", exit_process)
    reset_settings_cache()
    capsys.readouterr()
    try:
        if case.program == "worker.py":
            worker_main.main(argv)
        code = run_starter(argv, starter.command_modules())
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        root.handlers[:], root.level = saved_handlers, saved_level
        reset_settings_cache()
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_error_line_exit_2_and_changes_nothing(
    case: Case,
    seeded: tuple[Path, str],
    tmp_path: Path,
    port_in_use: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_path, key = seeded
    db = tmp_path / "yourmoment.db"
    shutil.copy(seed_path, db)
    (tmp_path / "nul.txt").write_bytes(b"Sei nett.\x00")
    if case.dotenv is not None:
        (tmp_path / ".env").write_bytes(case.dotenv)
    before = dump(db)

    def port(value: str | bytes) -> str | bytes:
        return value.replace(PORT_IN_USE, str(port_in_use)) if isinstance(value, str) else value

    env = clean_env(
        DATABASE_URL=f"sqlite:///{db}",
        YOURMOMENT_ENCRYPTION_KEY=key,
        TEMPORAL_ADDRESS=UNREACHABLE_TEMPORAL,
        MYMOMENT_BASE_URL="http://127.0.0.1:9",
    )
    env.update({name: port(value) for name, value in case.env.items()})
    if case.id in SUBPROCESS_ROWS:
        code, stderr = run_subprocess(case, tmp_path, env)
    else:
        code, stderr = run_in_process(case, tmp_path, env, monkeypatch, capsys)

    assert "Traceback" not in stderr, stderr
    assert stderr.splitlines() == [port(case.error)], stderr
    assert code == 2, stderr
    assert dump(db) == before, "the database changed"


def test_the_table_has_at_least_forty_rows_across_cli_worker_and_settings() -> None:
    assert len(CASES) >= 40
    assert sum(c.program == "worker.py" for c in CASES) >= 5
    assert sum(bool(c.env or c.dotenv) and c.program == "starter.py" for c in CASES) >= 15
    assert {c.id for c in CASES} >= SUBPROCESS_ROWS, "a subprocess row names no case"
    assert {c.program for c in CASES if c.id in SUBPROCESS_ROWS} == {"starter.py", "worker.py"}


# --- beyond the table --------------------------------------------------------------------------------


def test_every_message_refuses_inf_and_nan() -> None:
    """Nothing JSON cannot carry reaches a workflow: a weight of inf would arrive as null."""
    from pydantic import BaseModel, ValidationError

    import yourmoment.messages as messages

    models = [
        m
        for m in vars(messages).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel
    ]
    assert len(models) > 30
    assert all(m.model_config.get("allow_inf_nan") is False for m in models), "a message allows inf/nan"
    for weight in (math.inf, math.nan, 0.0, -1.0):
        with pytest.raises(ValidationError):
            messages.PromptChoice(template_id="t", weight=weight)
    with pytest.raises(ValidationError):
        messages.ReserveSlotResult(wait_seconds=math.inf)


def test_a_weight_stored_before_the_checks_keeps_the_process_from_starting(db_url: str) -> None:
    from yourmoment.errors import ValidationError
    from yourmoment.store.models import ProcessPrompt

    enc = Encryptor(generate_key())
    with session_scope(db_url) as session:
        user = accounts.add_user(session, "lehrerin@example.ch")
        accounts.add_login(session, enc, user, "bot-1", "pupil1", "pw", False, base_url="http://127.0.0.1:9")
        accounts.add_provider(
            session, enc, user, name="gpt", provider="openai", model="m", base_url=None, api_key="sk-test"
        )
        templates.seed_system_templates(session)
        spec = processes.ProcessSpec(
            name="p", tab="82", provider="gpt", logins=["bot-1"], prompts=[(TEMPLATE, 1.0)]
        )
        process = processes.create_process(session, user, spec)
        session.flush()
        for link in session.scalars(select(ProcessPrompt)):
            link.weight = math.inf  # what `process create --prompt T:inf` stored before
        with pytest.raises(ValidationError, match="prompt weight is not a finite number"):
            processes.check_startable(session, process, max_running=10)


@pytest.mark.slow
async def test_status_of_a_workflow_encrypted_with_a_key_the_cli_lacks_is_one_line(
    tmp_path: Path, mymoment_server: MyMomentServer, llm_server: LLMServer, dev_env: WorkflowEnvironment
) -> None:
    """The real path: a worker encrypts with key A; `starter.py status` with key B, or with none, says so."""
    from yourmoment.codec import generate_payload_key
    from yourmoment.temporal_client import data_converter

    db = tmp_path / "yourmoment.db"
    url, key_a = migrated_sqlite(db), generate_payload_key()
    settings = fast_settings(
        url,
        mymoment_server.url,
        yourmoment_payload_key=key_a,
        temporal_task_queue_prefix=f"bad{os.getpid()}-",
    )
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    process_id = world.create_process(max_duration_minutes=30)
    world.mark_running(process_id)
    client = client_with(dev_env, data_converter(settings))
    async with running_worker(client, settings):
        handle = await start_monitoring(client, settings, process_id)
        await wait_until(lambda: _answers(handle), what="the workflow answering its status query")
        before = dump(db)
        common = {
            "DATABASE_URL": url,
            "YOURMOMENT_ENCRYPTION_KEY": settings.yourmoment_encryption_key or "",
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "YOURMOMENT_DEFAULT_USER": world.user_email,
            "TEMPORAL_TASK_QUEUE_PREFIX": settings.temporal_task_queue_prefix,
        }
        cli = [sys.executable, str(REPO / "starter.py"), "status", process_id]
        results = {}
        for name, extra in (
            ("other key", {"YOURMOMENT_PAYLOAD_KEY": generate_payload_key()}),
            ("no key", {}),
        ):
            results[name] = await asyncio.to_thread(
                subprocess.run,
                cli,
                cwd=tmp_path,
                env=clean_env(**common, **extra),
                capture_output=True,
                text=True,
                timeout=60,
            )
        after = dump(db)  # before the test's own stop, which the workflow records on the row
        await processes_client.stop(handle)
    kid = EncryptionCodec.from_keys(key_a).key_id
    expected = {
        "other key": f"error: a payload is encrypted with key id {kid}, which YOURMOMENT_PAYLOAD_KEY does not hold",
        "no key": f"error: a payload is encrypted with key id {kid}, but YOURMOMENT_PAYLOAD_KEY is not set; "
        "set it to the key the workers use",
    }
    for name, proc in results.items():
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        [line] = proc.stderr.splitlines()
        assert line.startswith(expected[name]), (name, line)
        assert key_a not in line
        assert proc.returncode == 2, name
    assert after == before


async def _answers(handle: processes_client.MonitoringHandle) -> bool:
    """The workflow answers, its login is ready and discovery ran: the worker has written what it writes."""

    try:
        status = await processes_client.status(handle)
    except Exception:
        return False
    return status.discovery_runs >= 1 and all(login.state == "ready" for login in status.logins)
