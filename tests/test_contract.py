"""The typed contract: every activity stub matches one implementation, in name, input and result type."""

from __future__ import annotations

import inspect
import typing
from types import NoneType

from activities.deps import Dependencies
from activities.registry import activities_by_queue
from workflows.activity_stubs import ALL_STUBS, MAINTENANCE_STUBS
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.messages import ALL_QUEUES, MaintenanceTask, queue_prefix_of, task_queue
from yourmoment.ratelimit import make_rate_limiter
from yourmoment.settings import Settings


def _implementations() -> dict[str, tuple[str, object]]:
    settings = Settings(_env_file=None, database_url="sqlite://", yourmoment_encryption_key=generate_key())  # type: ignore[call-arg]
    deps = Dependencies(settings, Encryptor(settings.yourmoment_encryption_key), make_rate_limiter(None))
    found = {}
    for queue, functions in activities_by_queue(deps).items():
        for fn in functions:
            defn = getattr(fn, "__temporal_activity_definition")
            found[defn.name] = (queue, fn)
    return found


def test_every_stub_has_one_implementation_with_its_types() -> None:
    implementations = _implementations()
    assert set(implementations) == set(ALL_STUBS)
    for name, stub in ALL_STUBS.items():
        queue, fn = implementations[name]
        hints = typing.get_type_hints(inspect.unwrap(fn))
        params = [p for p in inspect.signature(inspect.unwrap(fn)).parameters if p != "self"]
        assert len(params) == 1, f"{name} takes one input model"
        assert hints[params[0]] is stub.input_type, name
        assert (hints["return"] if hints["return"] is not None else NoneType) is stub.result_type, name
        assert queue == stub.queue, name


def test_maintenance_tasks_are_the_maintenance_stubs() -> None:
    assert set(typing.get_args(MaintenanceTask)) == set(MAINTENANCE_STUBS)


def test_the_queue_prefix_is_read_back_from_every_queue_name() -> None:
    for prefix in ("yourmoment-", "t1234-", ""):
        for queue in ALL_QUEUES:
            assert queue_prefix_of(task_queue(prefix, queue)) == prefix
