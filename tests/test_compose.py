"""docker-compose.temporal.yml, read as data: services, ports, health checks, order and real settings.

No Docker engine runs here, so the file is parsed and checked against the code it starts: the settings
it sets exist, the commands parse, the mounted files exist, the UI's codec endpoint reaches the codec server.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from yourmoment.cli.main import build_parser
from yourmoment.comment_rules import extra_line_problems
from yourmoment.messages import SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_STATUS
from yourmoment.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.temporal.yml"
APP_SERVICES = ("worker", "codec-server", "migrate")
# Temporal's own client env config (temporalio.envconfig), read by connect() in every app container.
TEMPORAL_ENV = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_CODEC_AUTH",
}
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) for each published port, short or long syntax."""
    result = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result.append((entry.get("host_ip", ""), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        result.append((host_ip, int(parts[-2]), int(parts[-1])))
    return result


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def unknown_variables(env: dict[str, str]) -> list[str]:
    """Names that are neither a yourMoment setting nor a Temporal env-config variable (typos)."""
    return sorted(
        name
        for name in env
        if name not in SETTINGS_ENV
        and name not in TEMPORAL_ENV
        and not name.startswith("TEMPORAL_GRPC_META_")
    )


# --- services and ports ------------------------------------------------------------------------------


def test_the_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "postgresql",
        "temporal",
        "temporal-ui",
        "app-db",
        "redis",
        "migrate",
        "worker",
        "codec-server",
    }
    assert expected <= set(services)
    setup = [name for name, svc in services.items() if "admin-tools" in str(svc.get("image", ""))]
    assert len(setup) >= 2, "schema setup and namespace/search-attribute setup run as admin-tools one-shots"


def test_ports_are_published_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    by_port = {
        port: (name, ip, target) for name, svc in services.items() for ip, port, target in published(svc)
    }
    assert by_port[7233][0] == "temporal"
    assert by_port[8080][0] == "temporal-ui"
    assert by_port[8081][0] == "codec-server"
    # The UI has no login and the codec server decrypts: neither is offered to the whole network.
    assert {ip for _name, ip, _target in by_port.values()} == {"127.0.0.1"}
    for name in ("postgresql", "app-db", "redis", "worker", "migrate"):
        assert not published(services[name]), f"{name} needs no published port"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        if "build" in svc:
            continue  # this repository's own image
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin a version, not {image}"


# --- start order and health --------------------------------------------------------------------------


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    one_shots = set()
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions, not a plain list"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), f"{name} -> {target}"
            if condition == "service_healthy":
                test = (services[target].get("healthcheck") or {}).get("test")
                assert test and test != ["NONE"], f"{target} has dependants but no health check"
            else:
                one_shots.add(target)
    for name in one_shots:
        assert services[name].get("restart", "no") not in ("always", "unless-stopped"), f"{name} must end"
    assert {"migrate"} <= one_shots
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    _assert_no_cycle(services)


def _assert_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in services[name].get("depends_on") or {}:
            visit(target, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


def test_worker_starts_after_temporal_is_set_up(services: dict[str, dict[str, Any]]) -> None:
    """The worker needs the database migrated, Redis up and the namespace with its search attributes."""

    def upstream(name: str) -> set[str]:
        direct = set(services[name].get("depends_on") or {})
        return direct.union(*(upstream(d) for d in direct)) if direct else set()

    before_worker = upstream("worker")
    assert {"migrate", "app-db", "redis", "temporal", "postgresql"} <= before_worker
    setup = [s for s in before_worker if "setup-namespace.sh" in str(services[s].get("volumes"))]
    assert setup, "the namespace and search attributes are created before the worker starts"


# --- the codec server and the Web UI -----------------------------------------------------------------


def test_codec_server_beyond_loopback_requires_a_token(services: dict[str, dict[str, Any]]) -> None:
    from yourmoment.codec import is_loopback

    args = build_parser().parse_args(command(services["codec-server"])[2:])
    assert (
        command(services["codec-server"])[:2] == ["python", "starter.py"] and args.command == "codec-server"
    )
    [(_ip, _host_port, target)] = published(services["codec-server"])
    assert args.port == target
    # The published port arrives on the container's own interface: not loopback, so a token is required.
    assert not is_loopback(args.host)
    token = INTERPOLATION.fullmatch(environment(services["codec-server"])["YOURMOMENT_CODEC_TOKEN"])
    assert token and token["name"] == "YOURMOMENT_CODEC_TOKEN" and token["op"] == "?", (
        "the token comes from .env"
    )
    # Other containers call it by its service name, which the Host allow-list must admit.
    assert "codec-server" in args.allowed_hosts
    # The browser cannot send the token, so the UI is not pointed at a codec server that would refuse it.
    assert "TEMPORAL_CODEC_ENDPOINT" not in environment(services["temporal-ui"])


def test_worker_needs_a_contact_for_the_real_site(services: dict[str, dict[str, Any]]) -> None:
    contact = INTERPOLATION.fullmatch(environment(services["worker"])["CONTACT"])
    assert contact and contact["name"] == "CONTACT" and contact["op"] == "?"


def test_codec_server_gets_the_payload_key_and_nothing_more(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["codec-server"])
    assert {"YOURMOMENT_PAYLOAD_KEY", "YOURMOMENT_CODEC_TOKEN"} <= set(env)
    assert not {"YOURMOMENT_ENCRYPTION_KEY", "DATABASE_URL"} & set(env)
    assert "/health" in str(services["codec-server"]["healthcheck"]["test"])


# --- environment: real settings only -----------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_holds_only_real_settings(services: dict[str, dict[str, Any]], name: str) -> None:
    env = environment(services[name])
    assert env, f"{name} sets no environment"
    assert unknown_variables(env) == [], f"{name} sets variables nothing reads"
    # Literal values (and the defaults of ${VAR:-default}) must also be valid values of their settings.
    values: dict[str, Any] = {}
    for key, value in env.items():
        match = INTERPOLATION.fullmatch(value)
        if match and match["op"] != "-":
            continue
        if key.lower() in Settings.model_fields:
            values[key.lower()] = match["arg"] if match else value
    Settings(_env_file=None, **values)


def test_the_typo_check_can_fail() -> None:
    env = {"YOURMOMENT_PAYLOD_KEY": "x", "TEMPORAL_ADRESS": "t:7233", "DATABASE_URL": "sqlite://"}
    assert unknown_variables(env) == ["TEMPORAL_ADRESS", "YOURMOMENT_PAYLOD_KEY"]


def test_worker_environment_is_complete_and_keys_come_from_outside(
    services: dict[str, dict[str, Any]],
) -> None:
    env = environment(services["worker"])
    needed = {
        "DATABASE_URL",
        "REDIS_URL",
        "YOURMOMENT_ENCRYPTION_KEY",
        "YOURMOMENT_PAYLOAD_KEY",
        "TEMPORAL_ADDRESS",
        "MYMOMENT_BASE_URL",
    }
    assert needed <= set(env)
    assert env["TEMPORAL_ADDRESS"].split(":")[0] == "temporal"
    assert (
        urlsplit(env["DATABASE_URL"]).hostname
        == "app-db"
        == urlsplit(environment(services["migrate"])["DATABASE_URL"]).hostname
    )
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    for service in APP_SERVICES:
        for key, value in environment(services[service]).items():
            if key.startswith("YOURMOMENT_") and key.endswith("_KEY"):
                match = INTERPOLATION.fullmatch(value)
                # Required from .env: a missing key stops `compose up` with a message, never a default.
                assert match and match["name"] == key and match["op"] == "?", f"{service}: {key}"


def test_env_example_names_real_settings() -> None:
    names = [
        line.lstrip("# ").split("=", 1)[0]
        for line in (REPO / "deploy" / "env.example").read_text().splitlines()
        if re.match(r"#?\s*[A-Z_]+=", line)
    ]
    assert {
        "YOURMOMENT_ENCRYPTION_KEY",
        "YOURMOMENT_PAYLOAD_KEY",
        "YOURMOMENT_CODEC_TOKEN",
        "CONTACT",
    } <= set(names)
    assert unknown_variables(dict.fromkeys(names, "")) == []


def test_the_disclosure_is_fixed_and_only_a_valid_extra_line_is_offered(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        assert "AI_COMMENT_PREFIX" not in environment(services[name]), name
    match = INTERPOLATION.fullmatch(environment(services["worker"])["AI_COMMENT_EXTRA_LINE"])
    assert match and match["name"] == "AI_COMMENT_EXTRA_LINE" and match["op"] == "-" and match["arg"] == ""
    example = [
        line.lstrip("# ").split("=", 1)[1]
        for line in (REPO / "deploy" / "env.example").read_text().splitlines()
        if line.lstrip("# ").startswith("AI_COMMENT_EXTRA_LINE=")
    ]
    assert example and extra_line_problems(example[0]) == []


# --- commands, mounted files and the image -----------------------------------------------------------


def test_app_commands_are_real_commands(services: dict[str, dict[str, Any]]) -> None:
    assert command(services["worker"]) == ["python", "worker.py"]
    migrate = command(services["migrate"])
    assert migrate[:2] == ["python", "starter.py"]
    args = build_parser().parse_args(migrate[2:])
    assert (args.command, args.db_command) == ("db", "upgrade")


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    mounts = [
        (name, str(volume).split(":")[0])
        for name, svc in services.items()
        for volume in svc.get("volumes") or []
        if str(volume).startswith("./")
    ]
    assert mounts
    for name, source in mounts:
        assert (REPO / source).is_file(), f"{name} mounts missing {source}"


def test_setup_registers_the_search_attributes_the_workflows_use() -> None:
    script = (REPO / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    for name in (SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_STATUS):
        assert re.search(rf"\b{name}\b", script), f"{name} is not registered"
    assert "--type Keyword" in script and "operator namespace create" in script


def test_dockerfile_builds_every_package_the_app_imports(services: dict[str, dict[str, Any]]) -> None:
    assert all(services[name].get("build") in (".", {"context": "."}) for name in APP_SERVICES)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    copied = set(re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.M))
    sources = {part for line in copied for part in line.split()}
    needed = (
        "yourmoment",
        "workflows",
        "activities",
        "worker.py",
        "starter.py",
        "pyproject.toml",
    )
    for package in needed:
        assert package in sources, f"the image lacks {package}"
        assert (REPO / package).exists()
    for development in ("imitation", "yourmoment_dev"):  # the product imports neither (test_import_graph)
        assert development not in sources, f"the image carries {development}"
    assert re.search(r"^USER\s+(?!root)", dockerfile, re.M), "the app does not run as root"
