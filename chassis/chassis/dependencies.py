"""The one registry of "a dependency is down" errors, per driver.

Every datastore driver the fleet uses raises its own exceptions when its server is away
(refused, reset, timed out, shutting down). They are named here once, and both consumers of
that knowledge read them from here:

- the HTTP error handler (``chassis.errors``) answers them 503 with a sentence naming the
  dependency and a ``Retry-After``, instead of a bare 500;
- the Kafka consumer loop (``chassis.kafka.EventConsumer``) treats them as transient: it
  rewinds and backs off (pauses) rather than dead-lettering the event.

A driver is registered once the process has imported it, never imported for the registry:
an exception of a driver's type can only exist once its package is loaded, and importing every
driver the environment happens to hold cost each service ~70 MB of RSS in a shared virtualenv
(SQLAlchemy, PyMongo, Redis, Elasticsearch, ... in a gateway that uses only Redis). A driver
that is not installed is never imported (each image carries only its own drivers). A service
registering something here is the exception, not the rule: a new driver belongs in
``_DRIVERS`` below.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

Predicate = Callable[[BaseException], bool]
Entry = tuple[type[BaseException], str, Predicate | None]

# (exception type, what it means, optional predicate narrowing the type): drivers' and
# services' own, in the order registered; the generic socket errors are checked after them.
_registry: list[Entry] = []
_fallback: list[Entry] = []


def register_dependency_errors(
    what: str, *types: type[BaseException], when: Predicate | None = None
) -> None:
    """Name ``types`` as "``what`` is unavailable" (optionally only when ``when(exc)``)."""
    _add(_registry, what, types, when)


def _add(
    entries: list[Entry], what: str, types: tuple[type[BaseException], ...], when: Predicate | None
) -> None:
    for kind in types:
        if not any(kind is known and when is pred for known, _, pred in entries):
            entries.append((kind, what, when))


def _entries() -> list[Entry]:
    if _pending_drivers:
        _register_loaded_drivers()
    return _registry + _fallback


def dependency_error_types() -> tuple[type[BaseException], ...]:
    """Every registered type of the drivers imported so far, once (a superset: some are
    narrowed by a predicate)."""
    seen: dict[type[BaseException], None] = {}
    for kind, _, _ in _entries():
        seen.setdefault(kind, None)
    return tuple(seen)


def describe_outage(exc: BaseException) -> str | None:
    """The dependency ``exc`` (or what caused it) says is down, else None."""
    entries = _entries()
    current: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; never loop on a cycle
        if current is None:
            return None
        for kind, what, when in entries:
            if isinstance(current, kind) and (when is None or when(current)):
                return what
        current = current.__cause__ or current.__context__
    return None


def _sqlalchemy_disconnect(exc: BaseException) -> bool:
    return bool(getattr(exc, "connection_invalidated", False))


def _elasticsearch_overloaded(exc: BaseException) -> bool:
    status = getattr(getattr(exc, "meta", None), "status", 0)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _network_error(exc: BaseException) -> bool:
    # A file that is missing or unreadable is a bug or a deployment error, not an outage.
    return not isinstance(
        exc,
        (
            FileNotFoundError,
            FileExistsError,
            IsADirectoryError,
            NotADirectoryError,
            PermissionError,
        ),
    )


# driver module, exception names, what is down, predicate
_DRIVERS: list[tuple[str, tuple[str, ...], str, Predicate | None]] = [
    # SQLAlchemy wraps asyncpg: refused / reset / shut down / pool wait timed out.
    ("sqlalchemy.exc", ("OperationalError", "InterfaceError", "TimeoutError"), "PostgreSQL", None),
    # Any other DBAPI error on a connection SQLAlchemy found dead ("terminating connection").
    ("sqlalchemy.exc", ("DBAPIError",), "PostgreSQL", _sqlalchemy_disconnect),
    (
        "asyncpg.exceptions",
        (
            "PostgresConnectionError",
            "InterfaceError",
            "OperatorInterventionError",
            "TooManyConnectionsError",
        ),
        "PostgreSQL",
        None,
    ),
    # A deadlock's victim or a serialization failure (class 40): nothing was written, the
    # same request a moment later succeeds. A 503 with Retry-After, and a consumer retries.
    ("asyncpg.exceptions", ("TransactionRollbackError",), "PostgreSQL", None),
    # ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout, WaitQueueTimeoutError.
    ("pymongo.errors", ("ConnectionFailure",), "MongoDB", None),
    # ConnectionError covers BusyLoadingError (Redis still loading its data after a restart).
    ("redis.exceptions", ("ConnectionError", "TimeoutError"), "Redis", None),
    ("elastic_transport", ("ConnectionError", "ConnectionTimeout"), "Elasticsearch", None),
    ("elasticsearch", ("ApiError",), "Elasticsearch", _elasticsearch_overloaded),
    (
        "aiokafka.errors",
        (
            "KafkaConnectionError",
            "KafkaTimeoutError",
            "NodeNotReadyError",
            "RequestTimedOutError",
            "NotLeaderForPartitionError",
            "LeaderNotAvailableError",
        ),
        "Kafka",
        None,
    ),
    (
        "aiosmtplib.errors",
        ("SMTPConnectError", "SMTPServerDisconnected", "SMTPTimeoutError"),
        "The mail relay",
        None,
    ),
]


# Indexes into _DRIVERS of the drivers not registered yet (their package not imported so far).
_pending_drivers = list(range(len(_DRIVERS)))


def _register_loaded_drivers() -> None:
    """Register the drivers whose package the process has imported by now. Their errors module
    is then imported too (cheap: the package is loaded), so an error type that only a lazily
    imported submodule defines is still known."""
    for index in list(_pending_drivers):
        module_name, names, what, when = _DRIVERS[index]
        if module_name.split(".", 1)[0] not in sys.modules:
            continue
        _pending_drivers.remove(index)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            kind = getattr(module, name, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                register_dependency_errors(what, kind, when=when)


# Last, so a driver's own name wins: a socket refused, reset or timed out under any client.
_add(_fallback, "A dependency", (ConnectionError, TimeoutError), None)
_add(_fallback, "A dependency", (OSError,), _network_error)
