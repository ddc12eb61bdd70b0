"""Application settings from the environment (and a `.env` file), validated once per process."""

from __future__ import annotations

import io
import math
import re
import typing
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Any, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from yourmoment.comment_rules import DISCLOSURE, extra_line_problems
from yourmoment.errors import ConfigurationError
from yourmoment.messages import DEFAULT_QUEUE_PREFIX, task_queue

PRODUCT = "yourMoment-Temporal/0.1"
REAL_MYMOMENT_DOMAIN = "mymoment.ch"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# Names reserved for examples and tests (RFC 2606, RFC 6761): never a contact anyone can reach.
_PLACEHOLDER_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "example",
    "invalid",
    "test",
    "localhost",
)


def is_real_mymoment(base_url: str) -> bool:
    """True for the real site: mymoment.ch or any of its subdomains, whatever scheme, case, port or slash."""
    text = base_url.strip()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.rstrip(".").lower()
    return host == REAL_MYMOMENT_DOMAIN or host.endswith(f".{REAL_MYMOMENT_DOMAIN}")


def contact_reference(value: str) -> str:
    """The contact as the User-Agent names it: `mailto:` + an e-mail address, or an http(s) URL.

    Raises ConfigurationError for anything else, so a typo never goes out as someone's contact.
    """
    text = value.strip()
    address = text.removeprefix("mailto:")
    if _EMAIL.fullmatch(address):
        return f"mailto:{address}"
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme in ("http", "https") and "." in host and not re.search(r"[\s\x00-\x1f()\x7f]", text):
        return text
    raise ConfigurationError(
        f"CONTACT {text!r} is neither an e-mail address nor an http(s) URL; "
        "set the address where myMoment's operators can reach whoever runs this deployment"
    )


def _is_placeholder(reference: str) -> bool:
    host = (
        reference.rsplit("@", 1)[-1]
        if reference.startswith("mailto:")
        else urlsplit(reference).hostname or ""
    )
    host = host.rstrip(".").lower()
    return any(host == name or host.endswith(f".{name}") for name in _PLACEHOLDER_DOMAINS)


NOTIFY_MIN_INTERVAL_MAX = 7 * 86400

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def parse_durations(text: str) -> list[tuple[str, int]]:
    """ "1h,1d,7d" as [("1h", 3600), ("1d", 86400), ("7d", 604800)]: distinct, from 1 minute to 365 days."""
    found: dict[int, str] = {}
    for part in (p.strip() for p in text.split(",")):
        match = _DURATION.match(part)
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
        if not 60 <= seconds <= 365 * 86400:
            raise ValueError(f"{part!r} is not a duration like 30m, 1h or 7d (1 minute to 365 days)")
        found.setdefault(seconds, part)
    if not found or len(found) > 10:
        raise ValueError("must list 1 to 10 durations, e.g. 1h,1d,7d")
    return [(label, seconds) for seconds, label in sorted(found.items())]


# A process's discovery interval, in seconds; the setting's default for new processes obeys it too.
DISCOVERY_INTERVAL_RANGE = (5, 86400)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every setting (see docs/rules.md#settings). Temporal's connection uses Temporal's own env config instead."""

    # No inf or nan: a setting is a count, a rate or a duration, and non-finite ones break timers.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, allow_inf_nan=False
    )

    database_url: str = "sqlite:///yourmoment.db"
    redis_url: str | None = None
    yourmoment_encryption_key: str | None = None
    yourmoment_payload_key: str | None = None
    # Bearer token the codec server requires; it refuses a non-loopback bind without one.
    yourmoment_codec_token: str | None = None

    mymoment_base_url: str = "https://www.mymoment.ch"
    mymoment_timeout: float = Field(30.0, gt=0, le=3600)
    # Who myMoment's operators can write to about this deployment; sent in the User-Agent. No default:
    # a made-up address would look like a contact and reach nobody (required for the real site).
    contact: str | None = None
    scraping_rate_limit: float = Field(2.0, gt=0)
    scraping_burst_limit: int = Field(5, ge=1)
    # Every Nth grant of the site's budget goes to a waiting lower class (0: strict priority, no share).
    site_budget_share_every: int = Field(4, ge=0, le=100)
    comment_rate_limit_seconds: float = Field(30.0, ge=0, le=86400)
    article_discovery_interval_seconds: int = Field(
        60, ge=DISCOVERY_INTERVAL_RANGE[0], le=DISCOVERY_INTERVAL_RANGE[1]
    )
    max_articles_per_request: int = Field(20, ge=1, le=100)

    comment_min_length: int = Field(50, ge=1)
    comment_max_length: int = Field(5000, ge=1)
    # The disclosure is fixed (comment_rules.DISCLOSURE); a deployment may add one line after it.
    ai_comment_extra_line: str | None = None
    # Recognised only to refuse a replaced disclosure with a clear message.
    ai_comment_prefix: str | None = None
    llm_timeout: float = Field(60.0, gt=0, le=3600)
    # AI comments one article may carry, all accounts and installations together (docs/rules.md#ai-comments-per-article).
    max_ai_comments_per_article: int = Field(2, ge=1, le=5)

    retention_days: int = Field(90, ge=1, le=36500)
    # Student backup (docs/versions.md): how often the Schedule reads every tracked pupil's dashboard,
    # the versions kept per article (the oldest go first) and the pupils one user may track.
    student_backup_interval_minutes: int = Field(60, ge=5, le=1440)
    student_backup_max_versions_per_article: int = Field(100, ge=1, le=100_000)
    student_backup_max_tracked_students_per_user: int = Field(50, ge=1, le=100_000)
    # When a commented article is read again after its comment was posted: durations like 30m, 1h, 1d, 7d.
    follow_up_after: str = "1h,1d,7d"
    max_running_processes_per_user: int = Field(10, ge=1, le=1_000_000)
    yourmoment_default_user: str | None = None  # the user the CLI acts for without --user

    temporal_task_queue_prefix: str = DEFAULT_QUEUE_PREFIX
    # Off for a Temporal service where YourMomentProcessId/YourMomentStatus are not registered.
    temporal_search_attributes: bool = True
    metrics_port: int | None = Field(None, ge=1, le=65535)
    # Loopback by default: the endpoint has no authentication (set 0.0.0.0 only on a private network).
    metrics_host: str = "127.0.0.1"
    # The worker's /health and /ready (yourmoment/health_http.py), likewise loopback unless opened.
    health_port: int | None = Field(None, ge=1, le=65535)
    health_host: str = "127.0.0.1"
    # Workflows kept in a worker's memory. Idle processes beyond this are evicted and replayed on
    # their next timer: less memory (about 0.5 MB each), a little more CPU.
    worker_max_cached_workflows: int = Field(1000, ge=0, le=1_000_000)

    # Notification URLs of apprise (docs/notifications.md), separated by commas or spaces; secrets.
    notify_urls: str | None = None
    # At most one "comments waiting for approval" message per process in this time: 15m, 90s, 1h, 900.
    notify_min_interval: int = Field(900, ge=0, le=NOTIFY_MIN_INTERVAL_MAX)

    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("*", mode="before")
    @classmethod
    def _utf8(cls, value: Any) -> Any:
        # A non-UTF-8 byte in the environment arrives as a surrogate and would fail far away (database, HTTP).
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be UTF-8 text") from None
        return value

    @field_validator("notify_min_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            seconds = duration_seconds(value)
            if seconds is None or seconds > NOTIFY_MIN_INTERVAL_MAX:
                raise ValueError(
                    "must be a duration from 0 to 7d, such as 15m, 90s, 1h or 1d, or a number of seconds"
                )
            return seconds
        return value

    @field_validator("notify_urls")
    @classmethod
    def _notify_urls(cls, value: str | None) -> str | None:
        for number, url in enumerate(split_notify_urls(value), start=1):
            scheme, separator, rest = url.partition("://")
            if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) or not rest:
                # The value is a secret: the entry is named by its position, never shown.
                raise ValueError(f"entry {number} is not a notification URL (SCHEME://…, as apprise's)")
        return value or None

    @property
    def notification_urls(self) -> list[str]:
        """NOTIFY_URLS as a list (empty: nobody is notified)."""
        return split_notify_urls(self.notify_urls)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
            backend = url.get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST/DB")
        if unused := unused_database_options(backend, list(url.query)):
            raise ValueError(unused)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:  # unset, or empty as compose and the demo pass it: in-process limits
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("mymoment_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not is_http_url(value):
            raise ValueError("must be an http:// or https:// URL with a host")
        if has_user_info(value):
            # The client sends the base URL as its Referer: the password would reach the site too.
            raise ValueError(
                "must not hold a user name or password (myMoment's form check refuses them, "
                "and they would reach logs)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _comment_lengths(self) -> Settings:
        if self.comment_max_length < self.comment_min_length:
            raise ValueError(
                "COMMENT_MAX_LENGTH: must be at least COMMENT_MIN_LENGTH "
                f"({self.comment_max_length} < {self.comment_min_length})"
            )
        return self

    @field_validator("ai_comment_prefix")
    @classmethod
    def _disclosure_is_fixed(cls, value: str | None) -> str | None:
        if value is not None and value != DISCLOSURE:
            raise ValueError(
                f"the disclosure {DISCLOSURE} is fixed and cannot be replaced; unset AI_COMMENT_PREFIX "
                "and put a line of your own in AI_COMMENT_EXTRA_LINE (shown after the disclosure)"
            )
        return value

    @field_validator("follow_up_after")
    @classmethod
    def _follow_up_after(cls, value: str) -> str:
        parse_durations(value)
        return value

    @property
    def follow_up_intervals(self) -> list[tuple[str, int]]:
        """FOLLOW_UP_AFTER as (label, seconds), shortest first."""
        return parse_durations(self.follow_up_after)

    @field_validator("ai_comment_extra_line")
    @classmethod
    def _valid_extra_line(cls, value: str | None) -> str | None:
        if not value:  # unset, or empty as compose passes an unset variable
            return None
        if problems := extra_line_problems(value):
            raise ValueError("; ".join(problems))
        return value.strip()

    def task_queue(self, queue: str) -> str:
        """This deployment's server name of one of the task queues (yourmoment.messages.ALL_QUEUES)."""
        return task_queue(self.temporal_task_queue_prefix, queue)

    @property
    def user_agent(self) -> str:
        """The honest User-Agent. Raises ConfigurationError where no request may go out (see require_contact)."""
        reference = self.require_contact()
        return f"{PRODUCT} (+{reference})" if reference else PRODUCT

    def require_contact(self) -> str | None:
        """The validated contact reference; refuses the real myMoment site without a real contact.

        Every path that talks to myMoment builds its User-Agent here, so none can reach the real site
        anonymously; the imitation (demo, tests) may run without a contact or with a placeholder.
        """
        reference = contact_reference(self.contact) if self.contact and self.contact.strip() else None
        if is_real_mymoment(self.mymoment_base_url) and (reference is None or _is_placeholder(reference)):
            problem = "is not set" if reference is None else f"({self.contact}) is a placeholder address"
            raise ConfigurationError(
                f"CONTACT {problem}; {self.mymoment_base_url} is the real myMoment site: set CONTACT to an "
                "e-mail address or http(s) URL where its operators can reach you"
            )
        return reference


def unused_database_options(backend: str, options: list[str]) -> str | None:
    """Why a DATABASE_URL's `?options` would be ignored, naming the first such option; None if none is.

    SQLite takes none: the driver would drop unknown ones with a warning, and yourMoment sets the ones
    it knows (timeout, threads) itself. PostgreSQL takes libpq's connection keywords (sslmode,
    connect_timeout, …), as the installed libpq lists them; anything else would fail at connect time.
    """
    if not options:
        return None
    if backend == "sqlite":
        return f"option {options[0][:40]!r} is not used with SQLite (it takes none here); remove it"
    from psycopg.pq import Conninfo

    known = {option.keyword.decode() for option in Conninfo.get_defaults()}
    unknown = [name for name in options if name not in known]
    if unknown:
        return (
            f"option {unknown[0][:40]!r} is not a PostgreSQL connection option (libpq's, such as sslmode "
            "or connect_timeout); remove it"
        )
    return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int | None:
    """`15m` → 900, `90s` or `90` → 90, `1h` → 3600, `1d` → 86400; None for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    return round(float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "").lower()])


def split_notify_urls(value: str | None) -> list[str]:
    """Notification URLs separated by commas or white space, each once, in the order given."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,]+", value or "") if part))


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:  # "Invalid IPv6 URL" (an unclosed bracket), a bad port
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def has_user_info(url: str) -> bool:
    """Whether a URL names a user (and maybe a password) before its host: `http://user:pw@host/`."""
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    return "@" in authority


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, or a ConfigurationError whose one line names each bad setting and what it allows."""
    try:
        check_dotenv(Path(".env"))
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(
            "invalid setting " + "; ".join(_describe(error) for error in exc.errors())
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(".env is not UTF-8 text; save it as UTF-8") from None


def check_dotenv(path: Path) -> None:
    """python-dotenv skips a line it cannot parse with a warning nobody sees, so a setting there would
    silently not apply: refuse the file instead, naming the line (never its text: it may hold a key)."""
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            original = binding.original.string
            blank_lines = original[: len(original) - len(original.lstrip())].count("\n")
            raise ConfigurationError(
                f"{path} line {binding.original.line + blank_lines} is not NAME=value (nor a comment); "
                "fix or remove it"
            )


def _describe(error: Any) -> str:
    """`NAME='value': must be …`; values of text settings are never echoed (URLs and keys hold secrets)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = str(error["loc"][0])
    info = Settings.model_fields.get(name)
    if info is None or error["type"] == "value_error":
        return f"{name.upper()}: {message}"
    kind, _ = _kind(info)
    shown = f"={error['input']!r}" if kind is not str else ""
    return f"{name.upper()}{shown}: must be {allowed(info)}"


def _kind(info: FieldInfo) -> tuple[Any, bool]:
    """The field's type without None, and whether None (unset) is allowed."""
    members = (
        typing.get_args(info.annotation) if isinstance(info.annotation, UnionType) else (info.annotation,)
    )
    kinds = [m for m in members if m is not type(None)]
    return kinds[0], len(kinds) < len(members)


def allowed(info: FieldInfo) -> str:
    """What a setting allows, in words, from its type and its Field constraints (one source of truth)."""
    kind, optional = _kind(info)
    if typing.get_origin(kind) is Literal:
        text = "one of " + ", ".join(str(choice) for choice in typing.get_args(kind))
    else:
        text = {bool: "true or false", int: "a whole number", float: "a number"}.get(kind, "text")
    bounds = _bounds(info)
    if bounds:
        text += f" {bounds}"
    return f"{text}, or unset" if optional else text


def _bounds(info: FieldInfo) -> str:
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                found[name] = plain_number(getattr(item, name))
    if "ge" in found and "le" in found:
        return f"between {found['ge']} and {found['le']}"
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    return " and ".join(f"{words[name]} {value}" for name, value in found.items())


def plain_number(value: float) -> float | int:
    """2.0 → 2, 2.5 → 2.5, inf → inf: numbers in messages as a user would write them."""
    return int(value) if math.isfinite(value) and float(value).is_integer() else value


def reset_settings_cache() -> None:
    """Tests and the demo change the environment; this makes the next get_settings() re-read it."""
    get_settings.cache_clear()
