"""Hostile request bodies, 405s and dependency outages, as every service built on create_app
answers them (issue 10, defects 6, 9 and 10)."""

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from chassis import BaseServiceSettings, create_app
from chassis.dependencies import dependency_error_types, describe_outage
from chassis.validation import Integer


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    price: float
    count: Integer = 0


def _app() -> TestClient:
    app = create_app(BaseServiceSettings(service_name="unit-hostile"), title="unit")

    @app.post("/items")
    async def create(item: Item) -> dict[str, object]:
        return item.model_dump()

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.delete("/items/{item_id}")
    async def delete(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/down/{kind}")
    async def down(kind: str) -> None:
        if kind == "refused":
            raise ConnectionRefusedError(111, "Connection refused")
        if kind == "timeout":
            raise TimeoutError()
        if kind == "sqlalchemy":
            from sqlalchemy.exc import OperationalError

            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        if kind == "pymongo":
            from pymongo.errors import ServerSelectionTimeoutError

            raise ServerSelectionTimeoutError("no servers")
        if kind == "redis":
            from redis.exceptions import ConnectionError as RedisConnectionError

            raise RedisConnectionError("Error 111 connecting")
        if kind == "elasticsearch":
            from elastic_transport import ConnectionError as EsConnectionError

            raise EsConnectionError("refused")
        if kind == "wrapped":
            try:
                raise ConnectionResetError("reset")
            except ConnectionResetError as exc:
                raise RuntimeError("driver gave up") from exc
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


HOSTILE = [
    b'{"name": "a", "price": 1e400}',
    b'{"name": "a", "price": -1e400}',
    b'{"name": "a", "price": NaN}',
    b'{"name": "a", "price": Infinity}',
    b'{"name": "\\ud800", "price": 1}',
    b'{"name": "a", "price": 1, "note": "\\udfff"}',
    b'{"name": "a", "price": 1, "\\ud800": 1}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": "a", "price": 1, "count": ' + b"9" * 5000 + b"}",
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_json_is_a_4xx_with_a_sentence(body: bytes) -> None:
    reply = _app().post("/items", content=body, headers={"content-type": "application/json"})
    assert 400 <= reply.status_code < 500, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, str)
    assert detail.endswith(".")
    assert " " in detail


def test_hostile_json_without_a_content_type_is_refused_too() -> None:
    reply = _app().post("/items", content=b'{"name": "a", "price": NaN}')
    assert reply.status_code == 422
    assert isinstance(reply.json()["detail"], str)


def test_a_plain_validation_error_still_echoes_what_was_wrong() -> None:
    reply = _app().post("/items", json={"name": "a", "price": "x"})
    assert reply.status_code == 422
    assert "price" in reply.text


def test_a_valid_body_passes_unchanged() -> None:
    reply = _app().post("/items", json={"name": "é😀", "price": 1.5, "count": 3})
    assert reply.status_code == 200
    assert reply.json() == {"name": "é😀", "price": 1.5, "count": 3}


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_integers(value: bool) -> None:
    reply = _app().post("/items", json={"name": "a", "price": 1, "count": value})
    assert reply.status_code == 422, reply.text


def test_a_405_names_every_method_of_the_path() -> None:
    reply = _app().put("/items/3")
    assert reply.status_code == 405
    allowed = {m.strip() for m in reply.headers["allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed
    assert "PUT" not in allowed
    assert isinstance(reply.json()["detail"], str)


@pytest.mark.parametrize(
    "kind", ["refused", "timeout", "sqlalchemy", "pymongo", "redis", "elasticsearch", "wrapped"]
)
def test_a_dependency_outage_is_a_503_with_a_sentence(kind: str) -> None:
    reply = _app().get(f"/down/{kind}")
    assert reply.status_code == 503, reply.text
    detail = reply.json()["detail"]
    assert detail.endswith(".")
    assert "unavailable" in detail
    assert reply.headers.get("retry-after")


def test_an_unexpected_error_stays_a_500_without_internals() -> None:
    reply = _app().get("/down/other")
    assert reply.status_code == 500
    assert "secret" not in reply.text


def test_the_registry_names_each_driver_once() -> None:
    from pymongo.errors import ConnectionFailure
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import OperationalError

    types = dependency_error_types()
    assert len(types) == len(set(types))
    for kind in (OperationalError, ConnectionFailure, RedisConnectionError, OSError, TimeoutError):
        assert issubclass(kind, types)
    assert describe_outage(TimeoutError()) is not None
    assert describe_outage(ValueError("x")) is None


def test_a_405_counts_the_routes_of_an_included_router() -> None:
    from fastapi import APIRouter

    app = create_app(BaseServiceSettings(service_name="unit-405"), title="unit")
    router = APIRouter(prefix="/api/things")

    @router.get("/{thing_id}")
    async def read(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @router.put("/{thing_id}")
    async def replace(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.include_router(router)
    reply = TestClient(app).post("/api/things/abc")
    assert reply.status_code == 405
    assert {m.strip() for m in reply.headers["allow"].split(",")} == {"GET", "PUT"}
