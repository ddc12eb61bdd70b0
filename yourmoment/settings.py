"""Application settings from the environment (and a `.env` file), validated once per process."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yourmoment.comment_rules import DISCLOSURE, extra_line_problems
from yourmoment.errors import ConfigurationError

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


class Settings(BaseSettings):
    """Every setting of SPEC §9. Temporal's connection uses Temporal's own env config instead."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///yourmoment.db"
    redis_url: str | None = None
    yourmoment_encryption_key: str | None = None
    yourmoment_payload_key: str | None = None
    # Bearer token the codec server requires; it refuses a non-loopback bind without one.
    yourmoment_codec_token: str | None = None

    mymoment_base_url: str = "https://www.mymoment.ch"
    mymoment_timeout: float = 30.0
    # Who myMoment's operators can write to about this deployment; sent in the User-Agent. No default:
    # a made-up address would look like a contact and reach nobody (required for the real site).
    contact: str | None = None
    scraping_rate_limit: float = Field(2.0, gt=0)
    scraping_burst_limit: int = Field(5, ge=1)
    comment_rate_limit_seconds: float = Field(30.0, ge=0)
    article_discovery_interval_seconds: int = Field(60, ge=1)
    max_articles_per_request: int = Field(20, ge=1, le=100)

    comment_min_length: int = Field(50, ge=1)
    comment_max_length: int = Field(5000, ge=1)
    # The disclosure is fixed (comment_rules.DISCLOSURE); a deployment may add one line after it.
    ai_comment_extra_line: str | None = None
    # Recognised only to refuse a replaced disclosure with a clear message.
    ai_comment_prefix: str | None = None
    llm_timeout: float = 60.0

    retention_days: int = Field(90, ge=1)
    max_running_processes_per_user: int = Field(10, ge=1)
    yourmoment_default_user: str | None = None  # the user the CLI acts for without --user

    temporal_task_queue_prefix: str = "yourmoment-"
    # Off for a Temporal service where YourMomentProcessId/YourMomentStatus are not registered.
    temporal_search_attributes: bool = True
    metrics_port: int | None = None
    # Loopback by default: the endpoint has no authentication (set 0.0.0.0 only on a private network).
    metrics_host: str = "127.0.0.1"
    # Workflows kept in a worker's memory. Idle processes beyond this are evicted and replayed on
    # their next timer: less memory (about 0.5 MB each), a little more CPU.
    worker_max_cached_workflows: int = Field(1000, ge=0)

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("mymoment_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("ai_comment_prefix")
    @classmethod
    def _disclosure_is_fixed(cls, value: str | None) -> str | None:
        if value is not None and value != DISCLOSURE:
            raise ValueError(
                f"the disclosure {DISCLOSURE} is fixed and cannot be replaced; unset AI_COMMENT_PREFIX "
                "and put a line of your own in AI_COMMENT_EXTRA_LINE (shown after the disclosure)"
            )
        return value

    @field_validator("ai_comment_extra_line")
    @classmethod
    def _valid_extra_line(cls, value: str | None) -> str | None:
        if not value:  # unset, or empty as compose passes an unset variable
            return None
        if problems := extra_line_problems(value):
            raise ValueError("; ".join(problems))
        return value.strip()

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings; an invalid one is a ConfigurationError naming the variables (never their values)."""
    try:
        return Settings()
    except pydantic.ValidationError as exc:
        raise ConfigurationError(f"invalid setting {_describe(exc)}") from None


def _describe(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]).upper() if error["loc"] else "?"
        parts.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def reset_settings_cache() -> None:
    """Tests and the demo change the environment; this makes the next get_settings() re-read it."""
    get_settings.cache_clear()
