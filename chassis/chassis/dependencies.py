"""The one registry of "a dependency is down" errors, per driver.

Every datastore driver the fleet uses raises its own exceptions when its server is away
(refused, reset, timed out, shutting down). They are named here once, and both consumers of
that knowledge read them from here:

- the HTTP error handler (``chassis.errors``) answers them 503 with a sentence naming the
  dependency and a ``Retry-After``, instead of a bare 500;
- the Kafka consumer loop (``chassis.kafka.EventConsumer``) treats them as transient: it
  rewinds and backs off (pauses) rather than dead-lettering the event.

A driver that is not installed in a service's image is skipped (each image carries only its
own drivers). A service registering something here is the exception, not the rule: a new
driver belongs in ``_DRIVERS`` below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

Predicate = Callable[[BaseException], bool]

# (exception type, what it means, optional predicate narrowing the type)
_registry: list[tuple[type[BaseException], str, Predicate | None]] = []


def register_dependency_errors(
    what: str, *types: type[BaseException], when: Predicate | None = None
) -> None:
    """Name ``types`` as "``what`` is unavailable" (optionally only when ``when(exc)``)."""
    for kind in types:
        if not any(kind is known and when is pred for known, _, pred in _registry):
            _registry.append((kind, what, when))


def dependency_error_types() -> tuple[type[BaseException], ...]:
    """Every registered type, once (a superset: some are narrowed by a predicate)."""
    seen: dict[type[BaseException], None] = {}
    for kind, _, _ in _registry:
        seen.setdefault(kind, None)
    return tuple(seen)


def describe_outage(exc: BaseException) -> str | None:
    """The dependency ``exc`` (or what caused it) says is down, else None."""
    current: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; never loop on a cycle
        if current is None:
            return None
        for kind, what, when in _registry:
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


def _register_drivers() -> None:
    for module_name, names, what, when in _DRIVERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            kind = getattr(module, name, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                register_dependency_errors(what, kind, when=when)
    # Last, so a driver's own name wins: a socket refused, reset or timed out under any client.
    register_dependency_errors("A dependency", ConnectionError, TimeoutError)
    register_dependency_errors("A dependency", OSError, when=_network_error)


_register_drivers()
