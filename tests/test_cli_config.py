"""starter.py configuration commands: store rules, key handling, JSON output and secrets kept out of output."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from tests.conftest import CliEnv, CliResult, LLMServer, RunCli
from tests.support import process_create, provider_add
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.errors import ConfigurationError
from yourmoment.messages import ProcessSettings
from yourmoment.mymoment.types import ArticleSummary
from yourmoment.store import items
from yourmoment.store.db import head_revision, session_scope
from yourmoment.store.models import AIComment, LLMProvider, MonitoringProcess, MyMomentLogin
from yourmoment.store.processes import USER_SET_COLUMNS, ProcessSpec

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "Pw-Sentinel-9f8e7d"
API_KEY = "sk-sentinel-0123456789abcdef"
EMAIL = "lehrerin@example.ch"
TEMPLATE = "Ermutigendes Feedback"


def one_error_line(result: CliResult) -> str:
    """The command failed with exactly one line on stderr, `error: …`, and no traceback."""
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    return lines[0]


@pytest.fixture
def configured(env: CliEnv, run_cli: RunCli) -> CliEnv:
    """A user with a pupil login, an admin login, an OpenAI provider and the seeded system templates."""
    assert run_cli("user", "add", EMAIL).code == 0
    assert (
        run_cli("login", "add", "bot-1", "--username", "pupil1", "--password-stdin", stdin=PASSWORD).code == 0
    )
    assert run_cli("login", "add", "teacher", "--username", "lp", "--admin", stdin=PASSWORD).code == 0
    result = run_cli(*provider_add("gpt", "gpt-4o-mini", "--api-key-stdin"), stdin=API_KEY)
    assert result.code == 0, result
    assert run_cli("template", "seed").code == 0
    return env


def create_process(run_cli: RunCli, *extra: str) -> CliResult:
    return run_cli(*process_create("Klasse 82", "gpt", "bot-1", f"{TEMPLATE}:2", *extra))


# --- entry point, keys, database -----------------------------------------------------------------------


def test_starter_help_runs_as_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "starter.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    listed = [
        line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ") and line.strip()
    ]
    # The configuration groups come from three modules (setup, account, process), in this order.
    groups = ["db", "keygen", "user", "login", "provider", "template", "process", "browse"]
    assert [name for name in listed if name in groups] == groups, proc.stdout


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        ("import yourmoment_no_such_dependency\n", "No module named 'yourmoment_no_such_dependency'"),
        (None, "No module named 'yourmoment_cli_missing_cmds'"),  # the module itself is missing
    ],
)
def test_a_command_module_that_fails_to_import_is_one_error_line_not_dropped(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str | None, cause: str
) -> None:
    from yourmoment.cli import main

    if source is not None:
        (tmp_path / "yourmoment_cli_missing_cmds.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(main, "COMMAND_MODULES", (*main.COMMAND_MODULES, "yourmoment_cli_missing_cmds"))
    result = run_cli("keygen")  # a command of another module: it must not run without the broken one
    assert result.code == 2
    assert one_error_line(result) == (
        f"error: command module yourmoment_cli_missing_cmds failed to import: ModuleNotFoundError: {cause}"
    )
    assert result.out == ""
    with pytest.raises(main.CommandModuleError) as raised:
        main.build_parser()
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)


def test_keygen_needs_neither_database_nor_key(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("YOURMOMENT_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing/dir/x.db")
    first, second = run_cli("keygen"), run_cli("keygen")
    assert first.code == 0 and second.code == 0
    key = first.out.strip()
    Fernet(key)  # a valid key
    assert key != second.out.strip()


def test_db_upgrade_prints_the_revision_and_unmigrated_database_is_one_line(
    env: CliEnv, run_cli: RunCli, tmp_path: Path
) -> None:
    env.set(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    line = one_error_line(run_cli("user", "list"))
    assert "does not exist" in line and "db upgrade" in line
    assert not (tmp_path / "fresh.db").exists()  # a read does not create the file
    (tmp_path / "fresh.db").touch()  # an empty database: there, but not migrated
    line = one_error_line(run_cli("user", "list"))
    assert "not migrated" in line and "db upgrade" in line
    first = run_cli("db", "upgrade")
    assert first.code == 0 and first.out.strip() == head_revision()  # the newest migration
    again = run_cli("db", "upgrade", "--json")
    assert again.code == 0 and again.json() == {"revision": head_revision()}
    assert run_cli("user", "list", "--json").json() == []


def test_missing_or_invalid_key_is_one_clear_line(env: CliEnv, run_cli: RunCli) -> None:
    assert run_cli("user", "add", EMAIL).code == 0
    env.set(YOURMOMENT_ENCRYPTION_KEY=None)
    line = one_error_line(run_cli("login", "add", "bot-1", "--username", "u", stdin=PASSWORD))
    assert "YOURMOMENT_ENCRYPTION_KEY is not set" in line and "keygen" in line
    env.set(YOURMOMENT_ENCRYPTION_KEY="not-a-key")
    assert "not a valid Fernet key" in one_error_line(run_cli("login", "list"))
    env.set(YOURMOMENT_ENCRYPTION_KEY=env.encryption_key)
    assert run_cli("login", "list", "--json").json() == []  # nothing was stored by the failed attempts


def test_key_rotation_old_key_still_decrypts_and_reencrypt_uses_the_new_key(
    configured: CliEnv, run_cli: RunCli
) -> None:
    key_a, key_b = configured.encryption_key, generate_key()
    configured.set(YOURMOMENT_ENCRYPTION_KEY=key_b)
    assert "cannot be decrypted" in one_error_line(run_cli("login", "list"))

    configured.set(YOURMOMENT_ENCRYPTION_KEY=f"{key_b},{key_a}")
    listed = run_cli("login", "list", "--json")
    assert listed.code == 0 and {r["username"] for r in listed.json()} == {"pupil1", "lp"}
    assert run_cli("login", "add", "bot-2", "--username", "pupil2", stdin=PASSWORD).code == 0
    with session_scope(configured.database_url) as session:
        new_token = session.scalars(
            select(MyMomentLogin.password_enc).where(MyMomentLogin.name == "bot-2")
        ).one()
    assert Encryptor(key_b).decrypt(new_token) == PASSWORD  # new secrets are written with the first key
    with pytest.raises(ConfigurationError):
        Encryptor(key_a).decrypt(new_token)

    rotated = run_cli("db", "reencrypt", "--json")
    assert rotated.code == 0 and rotated.json() == {"reencrypted": 7}  # 3 logins x 2 + 1 API key
    configured.set(YOURMOMENT_ENCRYPTION_KEY=key_b)  # the old key can go now
    assert {r["username"] for r in run_cli("login", "list", "--json").json()} == {"pupil1", "pupil2", "lp"}
    with session_scope(configured.database_url) as session:
        old_login = session.scalars(select(MyMomentLogin).where(MyMomentLogin.name == "bot-1")).one()
        api_key_token = session.scalars(select(LLMProvider.api_key_enc)).one()
    assert api_key_token is not None
    assert Encryptor(key_b).decrypt(old_login.password_enc) == PASSWORD
    assert Encryptor(key_b).decrypt(api_key_token) == API_KEY
    with pytest.raises(ConfigurationError):
        Encryptor(key_a).decrypt(old_login.password_enc)


# --- users and logins ----------------------------------------------------------------------------------


def test_users_add_list_and_choosing_among_several(env: CliEnv, run_cli: RunCli) -> None:
    assert "not an e-mail address" in one_error_line(run_cli("user", "add", "nobody"))
    added = run_cli("user", "add", "A@Example.ch", "--json")
    assert added.code == 0 and added.json()["email"] == "a@example.ch"
    assert "exists already" in one_error_line(run_cli("user", "add", "a@example.ch"))
    assert run_cli("user", "add", "b@example.ch").code == 0
    assert [u["email"] for u in run_cli("user", "list", "--json").json()] == ["a@example.ch", "b@example.ch"]
    assert "several users exist" in one_error_line(run_cli("login", "list"))
    assert run_cli("--user", "b@example.ch", "login", "list", "--json").json() == []
    env.set(YOURMOMENT_DEFAULT_USER="a@example.ch")
    assert run_cli("login", "list", "--json").code == 0


def test_login_add_list_remove(configured: CliEnv, run_cli: RunCli) -> None:
    listed = run_cli("login", "list", "--json").json()
    assert [(r["name"], r["username"], r["admin"]) for r in listed] == [
        ("bot-1", "pupil1", False),
        ("teacher", "lp", True),
    ]
    assert all(set(r) == {"id", "name", "username", "admin", "last_used"} for r in listed)
    dup = run_cli("login", "add", "bot-1", "--username", "x", stdin=PASSWORD)
    assert "exists already" in one_error_line(dup)
    assert "password is empty" in one_error_line(
        run_cli("login", "add", "bot-3", "--username", "x", stdin="")
    )
    removed = run_cli("login", "remove", "bot-1")
    assert removed.code == 0 and "removed" in removed.out
    assert [r["name"] for r in run_cli("login", "list", "--json").json()] == ["teacher"]
    assert "no active login named 'bot-1'" in one_error_line(run_cli("login", "remove", "bot-1"))
    # A removed login frees its name.
    assert run_cli("login", "add", "bot-1", "--username", "pupil9", stdin=PASSWORD).code == 0


def test_password_is_never_an_argument(configured: CliEnv, run_cli: RunCli) -> None:
    result = run_cli("login", "add", "bot-2", "--username", "u", "--password", PASSWORD)
    assert result.code == 2 and "unrecognized arguments" in result.err


# --- providers -----------------------------------------------------------------------------------------


def test_provider_rules(any_db_url: str, env: CliEnv, run_cli: RunCli) -> None:
    assert run_cli("user", "add", EMAIL).code == 0
    no_key = run_cli(
        "provider", "add", "o", "--provider", "openai", "--model", "m", "--api-key-stdin", stdin=""
    )
    assert "needs an API key" in one_error_line(no_key)
    no_url = run_cli("provider", "add", "l", "--provider", "openai-compatible", "--model", "m")
    assert "needs --base-url" in one_error_line(no_url)
    hot = run_cli(
        "provider",
        "add",
        "m",
        "--provider",
        "mistral",
        "--model",
        "m",
        "--temperature",
        "2.5",
        "--max-tokens",
        "0",
        stdin=API_KEY,
    )
    line = one_error_line(hot)
    assert "--temperature must be a number between 0 and 2, not 2.5" in line
    assert "--max-tokens must be a whole number between 1 and 2147483647, not 0" in line
    unknown = run_cli("provider", "add", "x", "--provider", "anthropic", "--model", "m")
    assert unknown.code == 2 and "invalid choice" in unknown.err
    ok = run_cli(*provider_add("local", "llama3", "--rpm", "30", base_url="http://localhost:11434/v1/"))
    assert ok.code == 0, ok
    [row] = run_cli("provider", "list", "--json").json()
    assert row["base_url"] == "http://localhost:11434/v1" and row["api_key_set"] is False
    assert row["requests_per_minute"] == 30


def test_a_provider_url_stored_with_a_password_is_never_shown(
    env: CliEnv, run_cli: RunCli, llm_server: LLMServer
) -> None:
    """A URL with user-info stored before such URLs were refused: `provider list` and `provider test`
    show it without its password or query (the worker's log redaction is in tests/test_logs.py)."""
    assert run_cli("user", "add", EMAIL).code == 0
    assert run_cli(*provider_add("old", "imitation-mini", base_url=f"{llm_server.url}/v1")).code == 0
    stored = f"{llm_server.url}/v1".replace("://", f"://reader:{PASSWORD}@", 1)
    with session_scope(env.database_url) as session:
        session.execute(update(LLMProvider).values(base_url=stored))
    listed = run_cli("provider", "list", "--json")
    [row] = listed.json()
    assert row["base_url"] == stored.replace(f"reader:{PASSWORD}@", "***@")
    tested = run_cli("provider", "test", "old")
    for result in (listed, run_cli("provider", "list"), tested, run_cli("provider", "test", "old", "--json")):
        assert PASSWORD not in result.out + result.err, result


def test_provider_test_lists_models_from_the_llm_imitation(
    env: CliEnv, run_cli: RunCli, llm_server: LLMServer
) -> None:
    assert run_cli("user", "add", EMAIL).code == 0
    llm_server.state.required_api_key = API_KEY
    for name, key in (("good", API_KEY), ("bad", "sk-wrong-key-000000000")):
        added = run_cli(
            *provider_add(name, "imitation-mini", "--api-key-stdin", base_url=f"{llm_server.url}/v1"),
            stdin=key,
        )
        assert added.code == 0, added
    good = run_cli("provider", "test", "good")
    assert good.code == 0 and "imitation-mini" in good.out and "is listed" in good.out
    assert run_cli("provider", "test", "good", "--json").json()["models"] == [
        "imitation-large",
        "imitation-mini",
    ]
    bad = run_cli("provider", "test", "bad")
    assert bad.code == 1 and bad.out == "" and len(bad.err.strip().splitlines()) == 1, bad
    line = bad.err.strip()
    assert line.startswith("error: provider 'bad': ") and "401" in line and "sk-wrong" not in line
    # A refused key stops at the model list: no chat request is sent with it.
    assert llm_server.state.model_calls == 2 and llm_server.state.by_status["401"] == 1


# --- templates -----------------------------------------------------------------------------------------


def test_templates_seed_add_and_placeholder_check(
    any_db_url: str, env: CliEnv, run_cli: RunCli, tmp_path: Path
) -> None:
    assert run_cli("user", "add", EMAIL).code == 0
    seeded = run_cli("template", "seed", "--json").json()["added"]
    assert seeded >= 1
    assert run_cli("template", "seed", "--json").json() == {"added": 0}

    system_file = tmp_path / "system.txt"
    system_file.write_text("Du bist eine freundliche Lehrperson.", encoding="utf-8")
    bad = run_cli("template", "add", "Mein", "--system-file", system_file, "--user", "Titel: {article_titel}")
    assert "article_titel" in one_error_line(bad)
    missing = run_cli("template", "add", "Mein", "--system-file", tmp_path / "nope.txt", "--user", "x")
    assert "cannot read" in one_error_line(missing)
    both = run_cli("template", "add", "Mein", "--system", "a", "--system-file", system_file, "--user", "b")
    assert both.code == 2 and "not allowed with" in both.err

    user_file = tmp_path / "user.txt"
    user_file.write_text(
        "Kommentiere «{article_title}» von {article_author}:\n{article_content}", encoding="utf-8"
    )
    added = run_cli(
        "template", "add", "Mein", "--system-file", system_file, "--user-file", user_file, "--json"
    )
    assert added.code == 0, added
    listed = run_cli("template", "list", "--json").json()
    assert len(listed) == seeded + 1
    mine = [t for t in listed if t["category"] == "USER"]
    assert [(t["id"], t["name"], t["version"], t["retired"]) for t in mine] == [
        (added.json()["id"], "Mein", 1, False)
    ]


# --- processes -----------------------------------------------------------------------------------------


def test_process_rules_are_one_line_each(any_db_url: str, configured: CliEnv, run_cli: RunCli) -> None:
    def refused(*extra: str) -> str:
        return one_error_line(create_process(run_cli, *extra))

    assert "admin/teacher login" in refused("--login", "teacher")
    assert "'alle' tab cannot be monitored" in refused("--tab", "alle")
    assert "numeric class id" in refused("--tab", "klasse")
    assert "between 1 and 1440" in refused("--max-duration", "0")
    assert "between 1 and 1440" in refused("--max-duration", "1441")
    assert "--interval must be a whole number between 5 and 86400" in refused("--interval", "1")
    assert "greater than 0" in refused("--prompt", "Sprache und Stil:0")
    assert "not one of your templates" in refused("--prompt", "Gibt es nicht")
    assert "--category must be a whole number between 1 and" in refused("--category", "0")
    missing = one_error_line(run_cli("process", "create", "--name", "x", "--tab", "home"))
    assert "needs --provider, --login, --prompt" in missing
    assert run_cli("process", "list", "--json").json() == []  # nothing half-created


def test_process_cannot_use_another_users_login_or_provider(
    any_db_url: str, configured: CliEnv, run_cli: RunCli
) -> None:
    other = ("--user", "other@example.ch")
    assert run_cli("user", "add", "other@example.ch").code == 0
    assert run_cli(*other, "login", "add", "fremd", "--username", "x", stdin=PASSWORD).code == 0
    assert (
        run_cli(
            *other, "provider", "add", "fremd-llm", "--provider", "openai", "--model", "m", stdin=API_KEY
        ).code
        == 0
    )
    refused = run_cli("--user", EMAIL, *process_create("x", "fremd-llm", "fremd", TEMPLATE))
    line = one_error_line(refused)
    assert "login 'fremd' is not one of your active logins" in line
    assert "provider 'fremd-llm' is not one of your active providers" in line


def test_process_create_show_update_delete(any_db_url: str, configured: CliEnv, run_cli: RunCli) -> None:
    created = create_process(
        run_cli,
        "--prompt",
        "Sprache und Stil",
        "--category",
        "9",
        "--search",
        "Regen",
        "--description",
        "Test",
    )
    assert created.code == 0, created
    process_id = created.out.strip()
    assert len(process_id) == 36

    shown = run_cli("process", "show", process_id[:8], "--json").json()
    assert shown["tab"] == "82" and shown["category_id"] == 9 and shown["search"] == "Regen"
    assert shown["generate_only"] is True and shown["hide_comments"] is False
    assert shown["prompt_mode"] == "weighted" and shown["comment_on_existing"] is True
    assert shown["max_duration_minutes"] == 60 and shown["discovery_interval_seconds"] == 60
    assert shown["provider"] == "gpt" and [lg["name"] for lg in shown["logins"]] == ["bot-1"]
    assert {p["name"]: p["weight"] for p in shown["prompts"]} == {TEMPLATE: 2.0, "Sprache und Stil": 1.0}
    assert shown["status"] == "created" and sum(shown["totals"].values()) == 0

    # Work items show up in the counts.
    with session_scope(configured.database_url) as session:
        login_id = session.scalars(select(MyMomentLogin.id).where(MyMomentLogin.name == "bot-1")).one()
        arts = [
            ArticleSummary(
                id=str(i),
                title="t",
                author="a",
                status="Publiziert",
                visibility="K",
                date="d",
                url=f"http://x/article/{i}/",
            )
            for i in (4501, 4502)
        ]
        items.record_discovered(session, process_id, login_id, "k" * 64, arts, [""], baseline=False)
    text = run_cli("process", "show", "Klasse 82")
    assert text.code == 0 and "discovered 2" in text.out and f"{TEMPLATE} (version 1, weight 2)" in text.out

    updated = run_cli(
        "process",
        "update",
        process_id,
        "--post",
        "--hide",
        "--prompt-mode",
        "all",
        "--no-comment-on-existing",
        "--clear",
        "category",
        "--clear",
        "search",
        "--max-duration",
        "90",
        "--prompt",
        "Frage zum Weiterdenken:0.5",
        "--json",
    )
    assert updated.code == 0, updated
    data = updated.json()
    assert data["generate_only"] is False and data["hide_comments"] is True and data["prompt_mode"] == "all"
    assert data["comment_on_existing"] is False and data["max_duration_minutes"] == 90
    assert data["category_id"] is None and data["search"] is None and data["tab"] == "82"
    assert [(p["name"], p["weight"]) for p in data["prompts"]] == [("Frage zum Weiterdenken", 0.5)]
    assert "'alle' tab" in one_error_line(run_cli("process", "update", process_id, "--tab", "alle"))

    with session_scope(configured.database_url) as session:
        session.execute(update(MonitoringProcess).values(status="running"))
    assert "stop it before changing it" in one_error_line(
        run_cli("process", "update", process_id, "--name", "y")
    )
    assert "stop it before deleting it" in one_error_line(run_cli("process", "delete", process_id, "--yes"))
    with session_scope(configured.database_url) as session:
        session.execute(update(MonitoringProcess).values(status="stopped"))

    assert "pass --yes" in one_error_line(run_cli("process", "delete", process_id))
    deleted = run_cli("process", "delete", process_id, "--yes")
    assert deleted.code == 0 and "with 2 work items" in deleted.out
    assert run_cli("process", "list", "--json").json() == []
    with session_scope(configured.database_url) as session:
        assert session.scalar(select(AIComment.id)) is None  # items went with their process
    assert "no process" in one_error_line(run_cli("process", "show", process_id))


def test_listings_parse_as_json_and_never_show_secrets(configured: CliEnv, run_cli: RunCli) -> None:
    created = create_process(run_cli, "--json")
    assert created.code == 0
    process_id = created.json()["id"]
    outputs = []
    for command in (
        ("user", "list"),
        ("login", "list"),
        ("provider", "list"),
        ("template", "list"),
        ("process", "list"),
        ("process", "show", process_id),
    ):
        as_json = run_cli(*command, "--json")
        assert as_json.code == 0, (command, as_json)
        as_json.json()  # parses
        as_text = run_cli(*command)
        assert as_text.code == 0 and as_text.out.strip()
        outputs += [as_json.out, as_json.err, as_text.out, as_text.err]
    everything = "\n".join(outputs)
    assert PASSWORD not in everything and API_KEY not in everything
    assert "pupil1" in everything  # usernames are shown, passwords are not
    [provider] = run_cli("provider", "list", "--json").json()
    assert provider["api_key_set"] is True and "api_key" not in provider


def test_a_process_field_is_declared_once_and_set_from_every_path() -> None:
    """ProcessSettings declares what a user sets; the update spec and the copy into the row follow it,
    and every such column exists on the row."""
    spec_fields = {f.name for f in fields(ProcessSpec)}
    assert set(ProcessSettings.model_fields) <= spec_fields
    assert set(USER_SET_COLUMNS) == (set(ProcessSettings.model_fields) - {"name"}) | {"description"}
    assert all(hasattr(MonitoringProcess, column) for column in USER_SET_COLUMNS)
