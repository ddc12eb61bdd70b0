"""Users, myMoment logins and LLM providers: creation rules and look-ups (templates: templates.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from yourmoment.crypto import Encryptor
from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.mymoment.account import account_key
from yourmoment.store.limits import check_http_url, check_int, check_number, check_text
from yourmoment.store.models import (
    LLMProvider,
    MyMomentLogin,
    User,
    utcnow,
)

PROVIDER_KINDS = ("openai", "mistral", "openai-compatible")

Owned = TypeVar("Owned", MyMomentLogin, LLMProvider)


# --- users -------------------------------------------------------------------------------------------

# name@host.tld: a local part without spaces, brackets or a second @; host labels of letters (any
# script), digits and inner hyphens; a top-level domain of letters (or its punycode form).
_LOCAL = r"[^\s@<>()\[\],;:\"\\.]+(?:\.[^\s@<>()\[\],;:\"\\.]+)*"
_LABEL = r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?"
_USER_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)")


def is_email_address(value: str) -> bool:
    """What a user's e-mail address must look like (no control characters, no display name)."""
    return value.isprintable() and len(value.split("@")[0]) <= 64 and bool(_USER_EMAIL.fullmatch(value))


def add_user(session: Session, email: str) -> User:
    email = email.strip().lower()
    problems: list[str] = []
    check_text(problems, "the e-mail address", email, User.email)
    if problems:
        raise ValidationError(problems)
    if not is_email_address(email):
        raise ValidationError([f"{email!r} is not an e-mail address (like lehrerin@schule.ch)"])
    if session.scalar(select(User).where(User.email == email)):
        raise ValidationError([f"a user with e-mail {email} exists already"])
    user = User(email=email)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email: str | None) -> User:
    """The user the CLI acts for: `--user`, else the only user, else a clear error."""
    if email:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFoundError(f"no user with e-mail {email}; create one with 'starter.py user add EMAIL'")
        return user
    users = list(session.scalars(select(User).limit(2)))
    if len(users) == 1:
        return users[0]
    if not users:
        raise NotFoundError("no user yet; create one with 'starter.py user add EMAIL'")
    raise ValidationError(["several users exist; choose one with --user EMAIL or YOURMOMENT_DEFAULT_USER"])


# --- myMoment logins ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """Decrypted login credentials; exists only inside an activity or a CLI command, never in payloads."""

    login_id: str
    name: str
    username: str
    password: str
    user_id: str = ""  # whose login: the group of its requests in the site's budget

    def __repr__(self) -> str:  # keeps the password out of tracebacks and debug logs
        return f"Credentials(login_id={self.login_id!r}, name={self.name!r})"


def add_login(
    session: Session,
    enc: Encryptor,
    user: User,
    name: str,
    username: str,
    password: str,
    is_admin: bool,
    *,
    base_url: str,
) -> MyMomentLogin:
    """Stores a login; `base_url` (MYMOMENT_BASE_URL) names the site whose account the username is."""
    problems: list[str] = []
    if not name.strip():
        problems.append("the login needs a name")
    check_text(problems, "the login name", name.strip(), MyMomentLogin.name)
    if not username.strip():
        problems.append("the myMoment username is empty")
    check_text(problems, "the myMoment username", username)
    if not password:
        problems.append("the password is empty")
    check_text(problems, "the password", password)
    if find_login(session, user, name.strip()) is not None:
        problems.append(f"an active login named '{name}' exists already")
    if username.strip() and (same := login_for_account(session, enc, user, base_url, username)):
        problems.append(
            f"login '{same.name}' is already this myMoment account (usernames are compared without "
            "surrounding spaces and case); one account comments once per article, so it needs one login"
        )
    if problems:
        raise ValidationError(problems)
    login = MyMomentLogin(
        user_id=user.id,
        name=name.strip(),
        username_enc=enc.encrypt(username.strip()),
        password_enc=enc.encrypt(password),
        is_admin=is_admin,
    )
    session.add(login)
    session.flush()
    return login


def login_for_account(
    session: Session, enc: Encryptor, user: User, base_url: str, username: str
) -> MyMomentLogin | None:
    """The user's active login of the same myMoment account as `username` (yourmoment.mymoment.account).

    Usernames are stored encrypted, so each active login of the user is decrypted and compared.
    """
    key = account_key(base_url, username)
    for login in list_logins(session, user):
        if account_key(base_url, enc.decrypt(login.username_enc)) == key:
            return login
    return None


def find_login(session: Session, user: User, name: str) -> MyMomentLogin | None:
    return session.scalar(
        select(MyMomentLogin).where(
            MyMomentLogin.user_id == user.id, MyMomentLogin.name == name, MyMomentLogin.is_active
        )
    )


def get_login(session: Session, user: User, name: str) -> MyMomentLogin:
    login = find_login(session, user, name)
    if login is None:
        raise NotFoundError(f"no active login named '{name}'; see 'starter.py login list'")
    return login


def _active_by_name(session: Session, model: type[Owned], user: User) -> list[Owned]:
    """The user's active rows of a table with user_id, is_active and name, by name."""
    query = select(model).where(model.user_id == user.id, model.is_active).order_by(model.name)
    return list(session.scalars(query))


def list_logins(session: Session, user: User) -> list[MyMomentLogin]:
    return _active_by_name(session, MyMomentLogin, user)


def remove_login(session: Session, login: MyMomentLogin) -> None:
    """Deactivates the login (its comments keep their history) and drops its stored session."""
    login.is_active = False
    from yourmoment.store.sessions import delete_session

    delete_session(session, login.id)


def credentials(session: Session, enc: Encryptor, login_id: str) -> Credentials:
    login = session.get(MyMomentLogin, login_id)
    if login is None:
        raise NotFoundError(f"login {login_id} does not exist")
    login.last_used = utcnow()
    return Credentials(
        login_id=login.id,
        name=login.name,
        username=enc.decrypt(login.username_enc),
        password=enc.decrypt(login.password_enc),
        user_id=login.user_id,
    )


def login_username(session: Session, enc: Encryptor, login: MyMomentLogin) -> str:
    return enc.decrypt(login.username_enc)


# --- LLM providers -----------------------------------------------------------------------------------


STRUCTURED_MODES = ("json_schema", "off")
MAX_CONCURRENCY = 1000  # far above any worker's activity slots; a typo like 20000 is refused
MAX_PRICE_PER_MILLION = 1_000_000.0  # in any currency, far above any model's price per million tokens


def _check_provider_fields(
    problems: list[str],
    *,
    model: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    requests_per_minute: int | None = None,
    max_concurrency: int | None = None,
    structured_output: str | None = None,
    price_prompt_per_million: float | None = None,
    price_completion_per_million: float | None = None,
) -> None:
    """The checks `provider add` and `provider set` share; None means "not given"."""
    if model is not None:
        if not model.strip():
            problems.append("the model name is empty")
        check_text(problems, "--model", model.strip(), LLMProvider.model)
    check_http_url(problems, "--base-url", base_url.rstrip("/") if base_url else None, LLMProvider.base_url)
    check_number(problems, "--temperature", temperature, 0, 2)
    check_int(problems, "--max-tokens", max_tokens, LLMProvider.max_tokens)
    check_int(problems, "--rpm", requests_per_minute, LLMProvider.requests_per_minute)
    check_int(
        problems, "--max-concurrency", max_concurrency, LLMProvider.max_concurrency, high=MAX_CONCURRENCY
    )
    if structured_output is not None and structured_output not in STRUCTURED_MODES:
        problems.append(f"--structured must be json_schema or off, not {structured_output!r}")
    check_number(problems, "--price-prompt", price_prompt_per_million, 0, MAX_PRICE_PER_MILLION)
    check_number(problems, "--price-completion", price_completion_per_million, 0, MAX_PRICE_PER_MILLION)


# What a provider is configured with (besides its name, kind and key); the CLI's options carry these names.
PROVIDER_SETTINGS = (
    "model",
    "base_url",
    "temperature",
    "max_tokens",
    "requests_per_minute",
    "max_concurrency",
    "structured_output",
    "price_prompt_per_million",
    "price_completion_per_million",
)
PROVIDER_DEFAULTS: dict[str, Any] = dict.fromkeys(PROVIDER_SETTINGS) | {
    "model": "",
    "temperature": 0.7,
    "max_tokens": 800,
}


def add_provider(
    session: Session,
    enc: Encryptor,
    user: User,
    *,
    name: str,
    provider: str,
    api_key: str | None,
    **given: Any,
) -> LLMProvider:
    """Stores a provider with the settings of PROVIDER_SETTINGS (`model` required; `base_url` for
    openai-compatible). `max_concurrency` and `structured_output` left None follow the kind's default,
    prices left None are unknown (`report` then shows the cost as unknown)."""
    unknown = sorted(set(given) - set(PROVIDER_SETTINGS))
    if unknown:
        raise ValueError(f"unknown provider settings: {', '.join(unknown)}")
    settings = {**PROVIDER_DEFAULTS, **{key: value for key, value in given.items() if value is not None}}
    model, base_url = settings["model"], settings["base_url"]
    problems: list[str] = []
    if not name.strip():
        problems.append("the provider needs a name")
    check_text(problems, "the provider name", name, LLMProvider.name)
    if provider not in PROVIDER_KINDS:
        problems.append(f"provider must be one of {', '.join(PROVIDER_KINDS)}, not '{provider}'")
    if provider == "openai-compatible" and not base_url:
        problems.append("an openai-compatible provider needs --base-url (e.g. http://localhost:11434/v1)")
    if provider in ("openai", "mistral") and not api_key:
        problems.append(f"a {provider} provider needs an API key")
    _check_provider_fields(problems, **settings)
    if session.scalar(
        select(LLMProvider).where(
            LLMProvider.user_id == user.id, LLMProvider.name == name, LLMProvider.is_active
        )
    ):
        problems.append(f"an active provider named '{name}' exists already")
    if problems:
        raise ValidationError(problems)
    settings.update(model=model.strip(), base_url=base_url.rstrip("/") if base_url else None)
    row = LLMProvider(
        user_id=user.id,
        name=name,
        provider=provider,
        api_key_enc=enc.encrypt(api_key) if api_key else None,
        **settings,
    )
    session.add(row)
    session.flush()
    return row


def update_provider(
    session: Session, enc: Encryptor, row: LLMProvider, *, api_key: str | None = None, **changes: Any
) -> list[str]:
    """Changes the given settings of a stored provider (all checked first, nothing changed on a problem);
    returns the names of the settings that changed. Running workers use them from the next generation on.
    """
    unknown = sorted(set(changes) - set(PROVIDER_SETTINGS))
    if unknown:
        raise ValueError(f"unknown provider settings: {', '.join(unknown)}")
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes and api_key is None:
        raise ValidationError(
            ["nothing to change: give at least one setting (see 'starter.py provider set --help')"]
        )
    problems: list[str] = []
    _check_provider_fields(problems, **changes)
    if row.provider == "openai-compatible" and changes.get("base_url") == "":
        problems.append("an openai-compatible provider needs --base-url (e.g. http://localhost:11434/v1)")
    if api_key is not None:
        check_text(problems, "the API key", api_key)
        if not api_key and row.provider in ("openai", "mistral"):
            problems.append(f"a {row.provider} provider needs an API key")
    if problems:
        raise ValidationError(problems)
    if "model" in changes:
        changes["model"] = changes["model"].strip()
    if "base_url" in changes:  # empty: the kind's default URL (openai, mistral)
        changes["base_url"] = changes["base_url"].rstrip("/") or None
    changed = [key for key, value in changes.items() if getattr(row, key) != value]
    for key, value in changes.items():
        setattr(row, key, value)
    if api_key is not None:
        row.api_key_enc = enc.encrypt(api_key) if api_key else None
        changed.append("api_key")
    session.flush()
    return changed


def list_providers(session: Session, user: User) -> list[LLMProvider]:
    return _active_by_name(session, LLMProvider, user)


def find_provider(session: Session, user: User, name_or_id: str) -> LLMProvider | None:
    """The user's active provider of that name or id."""
    return session.scalar(
        select(LLMProvider).where(
            LLMProvider.user_id == user.id,
            LLMProvider.is_active,
            (LLMProvider.name == name_or_id) | (LLMProvider.id == name_or_id),
        )
    )


def get_provider(session: Session, user: User, name_or_id: str) -> LLMProvider:
    row = find_provider(session, user, name_or_id)
    if row is None:
        raise NotFoundError(f"no active provider '{name_or_id}'; see 'starter.py provider list'")
    return row


def provider_api_key(enc: Encryptor, provider: LLMProvider) -> str | None:
    return enc.decrypt(provider.api_key_enc) if provider.api_key_enc else None
