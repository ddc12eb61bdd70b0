"""Typed errors: each says whether trying again can help, which decides Temporal's retry policy."""

from __future__ import annotations


class YourMomentError(Exception):
    """Base of all domain errors. The message is safe to log: it never holds secrets or pupils' texts."""


class PermanentError(YourMomentError):
    """Trying again cannot help (bad credentials, invalid configuration, an unparseable page)."""


class TransientError(YourMomentError):
    """Trying again later can help (timeouts, 5xx, 429). `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(PermanentError):
    """A missing or invalid setting or domain configuration."""


class ValidationError(PermanentError):
    """User input that breaks a rule; one message per problem in `problems`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class NotFoundError(PermanentError):
    """A row or remote object that does not exist."""


class BadCredentialsError(PermanentError):
    """myMoment rejected the login's username or password."""


class PageParseError(PermanentError):
    """A myMoment page does not have the structure we know."""


class SessionExpiredError(TransientError):
    """The myMoment session ended; one re-login answers it."""


class AmbiguousPostError(TransientError):
    """A comment POST whose outcome is unknown (timeout, dropped connection): read the page before retrying."""


class LLMPermanentError(PermanentError):
    """The LLM provider refused for good (401, bad model, invalid request)."""


class LLMTransientError(TransientError):
    """The LLM provider failed for now (429, 5xx, timeout, malformed answer)."""


class CommentValidationError(PermanentError):
    """A generated comment failed validation even after regenerating."""


class TemporalUnavailableError(YourMomentError):
    """The Temporal server cannot be reached (address, namespace, TLS or API key)."""
