"""No exception leaves an activity, the CLI or a log record with values in its text (issue 8, finding 1)."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Callable

import pydantic
import pytest
from sqlalchemy import text
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError, CancelledError

from activities.errors import translate_errors
from tests.conftest import CliEnv, RunCli
from workflows.activity_config import PERMANENT
from yourmoment.codec import ENCODING, generate_payload_key
from yourmoment.errors import LLMTransientError, PageParseError, ValidationError
from yourmoment.logs import JsonFormatter, SafeFormatter
from yourmoment.mymoment.types import SavedSession
from yourmoment.store.db import get_engine, session_scope
from yourmoment.temporal_client import data_converter
from yourmoment_dev.harness import fast_settings

PUPIL_TEXT = "Mein geheimer Aufsatz über Bello 7f3a"
COOKIE = "sessionid-c00kie-9b1e"


def add_blocking_trigger(db_url: str) -> None:
    """A write the database refuses, as the issue's drill does (a trigger that raises)."""
    with get_engine(db_url).begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse_text BEFORE INSERT ON users WHEN NEW.email LIKE '%geheim%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        )


def refused_write(db_url: str) -> Exception:
    add_blocking_trigger(db_url)
    try:
        with session_scope(db_url) as session:
            session.execute(
                text("INSERT INTO users (id, email, created_at) VALUES (:id, :email, CURRENT_TIMESTAMP)"),
                {"id": "u-1", "email": PUPIL_TEXT},
            )
    except Exception as exc:
        return exc
    raise AssertionError("the trigger did not refuse the write")


def everything_said(exc: BaseException) -> str:
    """All an exception can show: its text, its chain and its traceback, as logging prints it."""
    return "".join(traceback.format_exception(exc))


async def raised_by_activity(exc: Exception) -> ApplicationError:
    @translate_errors
    async def activity_body() -> None:
        raise exc

    with pytest.raises(ApplicationError) as info:
        await activity_body()
    return info.value


def cookie_validation_error() -> pydantic.ValidationError:
    try:
        SavedSession.model_validate({"cookies": [{"name": "sessionid", "value": [COOKIE]}]})
    except pydantic.ValidationError as exc:
        assert COOKIE in str(exc)  # pydantic quotes the input: exactly what must not travel on
        return exc
    raise AssertionError("the session validated")


# --- the database ------------------------------------------------------------------------------------


def test_database_errors_never_show_parameters(db_url: str) -> None:
    exc = refused_write(db_url)
    assert "refused by the test" in str(exc)  # the error itself is there ...
    assert PUPIL_TEXT not in everything_said(exc)  # ... without the values it was writing


async def test_a_database_error_leaves_an_activity_as_one_transient_error(db_url: str) -> None:
    error = await raised_by_activity(refused_write(db_url))
    assert error.type == "DatabaseError" and not error.non_retryable
    assert "IntegrityError" in error.message and "refused" not in error.message
    assert error.__cause__ is None and error.__suppress_context__
    assert PUPIL_TEXT not in everything_said(error)


# --- everything else ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: ValueError(f"could not handle {PUPIL_TEXT!r}"),
        lambda: KeyError(COOKIE),
        cookie_validation_error,
    ],
    ids=["ValueError", "KeyError", "pydantic"],
)
async def test_an_unexpected_error_is_reduced_to_its_type(make: Callable[[], Exception]) -> None:
    original = make()
    error = await raised_by_activity(original)
    said = everything_said(error)
    assert PUPIL_TEXT not in said and COOKIE not in said
    assert type(original).__name__ in error.message and type(original).__name__ in (error.type or "")
    # Retried like any unknown error; a foreign `ValidationError` is never taken for our permanent one.
    assert not error.non_retryable and error.type not in PERMANENT
    assert "activity_body" in said  # the frames stay: where it happened is not a secret


async def test_typed_errors_keep_their_message_and_retry_kind() -> None:
    permanent = await raised_by_activity(PageParseError("article page 4501 without a title (h1)"))
    assert (permanent.type, permanent.non_retryable) == ("PageParseError", True)
    assert permanent.message == "article page 4501 without a title (h1)"
    transient = await raised_by_activity(LLMTransientError("imitation: rate limited (429).", retry_after=3))
    assert (transient.type, transient.non_retryable) == ("LLMTransientError", False)
    assert transient.next_retry_delay is not None and transient.next_retry_delay.total_seconds() == 3
    assert (await raised_by_activity(ValidationError(["weight must be positive"]))).non_retryable


async def test_cancellation_passes_through() -> None:
    @translate_errors
    async def cancelled() -> None:
        raise CancelledError("Cancelled")

    with pytest.raises(CancelledError):
        await cancelled()


# --- the failure converter ---------------------------------------------------------------------------


async def test_with_a_payload_key_failure_messages_and_stack_traces_are_encrypted(db_url: str) -> None:
    converter = data_converter(
        fast_settings(db_url, "http://127.0.0.1:9", yourmoment_payload_key=generate_payload_key())
    )
    try:
        raise ApplicationError(f"article {PUPIL_TEXT}", type="Anything")
    except ApplicationError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert PUPIL_TEXT.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == f"article {PUPIL_TEXT}"


def test_without_a_payload_key_failures_stay_readable(db_url: str) -> None:
    converter = data_converter(fast_settings(db_url, "http://127.0.0.1:9"))
    # The codec only refuses payloads encrypted elsewhere; failures keep the readable default converter.
    assert type(converter.payload_codec).__name__ == "RefuseEncryptedCodec"
    assert type(converter.failure_converter).__name__ == "DefaultFailureConverter"


# --- logs and the CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize("formatter", [SafeFormatter(), JsonFormatter()], ids=["text", "json"])
def test_logged_tracebacks_show_types_not_messages(formatter: logging.Formatter, db_url: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.safe.{type(formatter).__name__}")
    logger.addHandler(handler)
    try:  # a chain as an activity produces it: a database error, a library's error, then ours
        raise refused_write(db_url)
    except Exception:
        try:
            raise ValueError(PUPIL_TEXT)
        except ValueError:
            try:
                raise PageParseError("article page 4501 without a title (h1)")
            except PageParseError:
                logger.exception("Completing activity as failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "IntegrityError" in out and "ValueError" in out and "test_logged_tracebacks" in out
    assert "article page 4501 without a title" in out  # our typed errors are readable
    assert PUPIL_TEXT not in out and "refused by the test" not in out


def test_a_database_error_in_the_cli_is_one_line_without_values(env: CliEnv, run_cli: RunCli) -> None:
    add_blocking_trigger(env.database_url)
    result = run_cli("user", "add", "geheim@example.org")
    assert result.code == 1, result
    assert result.err.startswith("error: database error (IntegrityError") and result.err.count("\n") == 1
    assert "geheim" not in result.out + result.err
