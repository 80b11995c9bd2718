"""chassis.api and chassis.pagination: the pieces every service's routes are made of."""

import asyncio
import inspect
import uuid
from decimal import Decimal
from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError

from chassis import BaseServiceSettings, create_app
from chassis.api import Money, exact_reply, service_dependency, uuid_path
from chassis.exact_json import ExactJSONResponse
from chassis.pagination import PageRequest, pagination


class Line(BaseModel):
    name: str
    price: Money


class Basket(BaseModel):
    lines: list[Line]
    total: Money


class Shop:
    def __init__(self) -> None:
        self.baskets = {"b-1": Basket(lines=[], total=Decimal("0"))}


ThingId = Annotated[uuid.UUID, Depends(uuid_path("thing_id", "thing"))]
TheShop = Annotated[Shop, Depends(service_dependency(Shop, "shop"))]
OffsetPaging = Annotated[
    PageRequest,
    Depends(pagination(default_size=10, max_size=50, max_page=1000, offsets=True, max_offset=900)),
]
PagePaging = Annotated[
    PageRequest, Depends(pagination(default_size=10, max_size=50, max_page=1000))
]


def _app() -> TestClient:
    app = create_app(BaseServiceSettings(service_name="unit-api"), title="unit")
    app.state.shop = Shop()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: ThingId) -> dict[str, str]:
        return {"id": str(thing_id), "type": type(thing_id).__name__}

    @app.get("/shop")
    async def shop(the_shop: TheShop) -> dict[str, bool]:
        return {"same": the_shop is app.state.shop}

    @app.get("/basket", response_model=Basket)
    async def basket() -> ExactJSONResponse:
        lines = [Line(name="a", price=Decimal("0.1")), Line(name="b", price=Decimal("0.2"))]
        total = sum((line.price for line in lines), Decimal(0))
        return exact_reply(Basket, Basket(lines=lines, total=total), headers={"X-Shop": "1"})

    @app.get("/lines", response_model=list[Line])
    async def lines() -> ExactJSONResponse:
        return exact_reply(list[Line], [Line(name="c", price=Decimal("10"))], status_code=201)

    @app.get("/broken", response_model=Basket)
    async def broken() -> ExactJSONResponse:
        # A route answering something its model does not allow: never sent as it is.
        return exact_reply(Basket, {"lines": [{"name": "x"}], "total": Decimal("1.00")})

    @app.get("/by-offset")
    async def by_offset(paging: OffsetPaging) -> dict[str, object]:
        headers = paging.headers(25)
        return {"p": [paging.page, paging.page_size, paging.offset], "link": headers["Link"]}

    @app.get("/by-page")
    async def by_page(paging: PagePaging) -> dict[str, object]:
        return {"p": [paging.page, paging.page_size, paging.offset], **paging.headers(25)}

    return TestClient(app, raise_server_exceptions=False)


# ---- uuid_path ---------------------------------------------------------------------------


def test_a_path_segment_that_is_not_a_uuid_is_a_400_sentence() -> None:
    reply = _app().get("/things/order-123")
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Invalid thing id: 'order-123' is not a UUID"}


def test_a_long_bad_segment_is_cut_in_the_sentence() -> None:
    reply = _app().get("/things/" + "x" * 300)
    assert reply.status_code == 400
    assert reply.json()["detail"] == f"Invalid thing id: {'x' * 64!r} is not a UUID"


def test_a_uuid_segment_reaches_the_route_as_a_uuid() -> None:
    value = "5f8f7f5e-5b1c-4a4b-9c1e-7a1d2b3c4d5e"
    assert _app().get(f"/things/{value}").json() == {"id": value, "type": "UUID"}


def test_the_uuid_parser_is_documented_and_never_runs_in_the_thread_pool() -> None:
    parse = uuid_path("order_id", "order")
    assert inspect.iscoroutinefunction(parse)
    assert list(inspect.signature(parse).parameters) == ["order_id"]
    assert asyncio.run(parse(order_id="5f8f7f5e-5b1c-4a4b-9c1e-7a1d2b3c4d5e")).version == 4
    client = _app()
    spec = client.get("/openapi.json").json()["paths"]["/things/{thing_id}"]["get"]
    (parameter,) = spec["parameters"]
    assert (parameter["name"], parameter["in"]) == ("thing_id", "path")
    assert parameter["description"] == "Thing id (a UUID)"


# ---- service_dependency ------------------------------------------------------------------


def test_the_service_dependency_hands_over_the_object_on_app_state() -> None:
    assert _app().get("/shop").json() == {"same": True}
    assert inspect.iscoroutinefunction(service_dependency(Shop, "shop"))


# ---- Money and exact_reply ---------------------------------------------------------------


def test_money_is_written_with_exactly_two_decimals_never_through_a_float() -> None:
    reply = _app().get("/basket")
    assert reply.status_code == 200
    # 0.1 + 0.2 is 0.30 exactly, not 0.30000000000000004 nor 0.3.
    assert reply.text == (
        '{"lines":[{"name":"a","price":0.10},{"name":"b","price":0.20}],"total":0.30}'
    )
    assert reply.headers["x-shop"] == "1"
    assert reply.headers["content-type"] == "application/json"


def test_a_list_reply_keeps_its_status_and_pads_whole_amounts() -> None:
    reply = _app().get("/lines")
    assert (reply.status_code, reply.text) == (201, '[{"name":"c","price":10.00}]')


def test_a_reply_that_does_not_fit_its_model_is_never_sent() -> None:
    reply = _app().get("/broken")
    assert reply.status_code == 500
    assert reply.json() == {"detail": "Internal server error."}


def test_a_value_of_another_model_is_checked_field_by_field() -> None:
    class Other(BaseModel):
        name: str

    with pytest.raises(ValidationError):
        exact_reply(Basket, Other(name="x"))


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (Decimal("1999.98"), "1999.98"),
        (Decimal("10"), "10.00"),
        (Decimal("0.1") + Decimal("0.2"), "0.30"),
        (0.1 + 0.2, "0.30"),  # a float is read by its shortest repr, then cut to cents
        (Decimal("19.999"), "20.00"),  # cut to cents half to even, as prices always were
        (Decimal("0.125"), "0.12"),
        (Decimal("-5.5"), "-5.50"),
    ],
)
def test_money_values(given: object, written: str) -> None:
    line = Line(name="x", price=given)  # type: ignore[arg-type]
    assert str(line.price) == written
    assert exact_reply(Line, line).body == f'{{"name":"x","price":{written}}}'.encode()


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), "abc"])
def test_money_refuses_what_is_not_an_amount(bad: object) -> None:
    with pytest.raises(ValidationError):
        Line(name="x", price=bad)  # type: ignore[arg-type]


def test_money_is_a_number_in_the_openapi_document() -> None:
    schema = TypeAdapter(Money).json_schema(mode="serialization")
    assert schema["type"] == "number"


# ---- pagination --------------------------------------------------------------------------


def _links(reply_json: dict[str, object]) -> dict[str, str]:
    link = str(reply_json.get("link") or reply_json["Link"])
    out = {}
    for part in link.split(", "):
        target, rel = part.split("; ")
        out[rel.removeprefix('rel="').removesuffix('"')] = target[1:-1]
    return out


def test_the_canonical_names_are_page_and_page_size() -> None:
    client = _app()
    body = client.get("/by-page", params={"page": 2, "page_size": 5}).json()
    assert body["p"] == [2, 5, 5]
    assert body["X-Total-Count"] == "25"
    assert _links(body) == {
        "first": "/by-page?page=1&page_size=5",
        "next": "/by-page?page=3&page_size=5",
        "prev": "/by-page?page=1&page_size=5",
    }
    assert client.get("/by-page").json()["p"] == [1, 10, 0]


@pytest.mark.parametrize("alias", ["limit", "size"])
def test_limit_and_size_are_accepted_for_page_size(alias: str) -> None:
    body = _app().get("/by-page", params={"q": "x", alias: 5, "page": 5}).json()
    assert body["p"] == [5, 5, 20]
    # The links repeat the names the request used, and keep its other parameters.
    assert _links(body) == {
        "first": f"/by-page?q=x&page=1&{alias}=5",
        "prev": f"/by-page?q=x&page=4&{alias}=5",
    }


def test_limit_and_offset_are_accepted_where_the_list_can_start_anywhere() -> None:
    client = _app()
    body = client.get("/by-offset", params={"limit": 2, "offset": 3}).json()
    assert body["p"] == [2, 2, 3]
    assert _links(body) == {
        "first": "/by-offset?limit=2&offset=0",
        "next": "/by-offset?limit=2&offset=5",
        "prev": "/by-offset?limit=2&offset=1",
    }
    # `limit` alone is the original limit/offset style: its links say offset.
    alone = client.get("/by-offset", params={"limit": 10}).json()
    assert _links(alone)["next"] == "/by-offset?limit=10&offset=10"
    # page/page_size there too.
    paged = client.get("/by-offset", params={"page": 3, "page_size": 10}).json()
    assert paged["p"] == [3, 10, 20]
    assert _links(paged) == {
        "first": "/by-offset?page=1&page_size=10",
        "prev": "/by-offset?page=2&page_size=10",
    }


def test_the_last_offset_page_links_back_to_a_full_page() -> None:
    body = _app().get("/by-offset", params={"limit": 10, "offset": 40}).json()
    assert _links(body) == {
        "first": "/by-offset?limit=10&offset=0",
        "prev": "/by-offset?limit=10&offset=15",
    }


def test_an_offset_is_not_accepted_where_the_list_is_paged_by_number() -> None:
    # Unknown there, so ignored as any unknown query parameter is.
    assert _app().get("/by-page", params={"offset": 7}).json()["p"] == [1, 10, 0]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/by-page", {"page": 0}, "page"),
        ("/by-page", {"page": 1001}, "page"),
        ("/by-page", {"page": "x"}, "page"),
        ("/by-page", {"page_size": 0}, "page_size"),
        ("/by-page", {"page_size": 51}, "page_size"),
        ("/by-page", {"limit": 51}, "limit"),
        ("/by-page", {"size": 0}, "size"),
        ("/by-offset", {"offset": -1}, "offset"),
        ("/by-offset", {"offset": 901}, "offset"),
        # Two names for the same thing must agree; page and offset exclude each other.
        ("/by-page", {"page_size": 5, "limit": 6}, "limit"),
        ("/by-page", {"limit": 5, "size": 6}, "size"),
        ("/by-offset", {"page": 2, "offset": 6}, "offset"),
        # A page that starts past the deepest item the list serves.
        ("/by-offset", {"page": 100, "page_size": 50}, "page"),
    ],
)
def test_bad_paging_is_a_422_naming_the_parameter(
    path: str, params: dict[str, object], name: str
) -> None:
    reply = _app().get(path, params=params)
    assert reply.status_code == 422, reply.text
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["query", name]
    assert error["msg"]


def test_the_same_value_under_two_names_is_fine() -> None:
    assert _app().get("/by-page", params={"page_size": 5, "limit": 5}).json()["p"] == [1, 5, 0]


def test_every_name_is_in_the_openapi_document() -> None:
    paths = _app().get("/openapi.json").json()["paths"]
    names = {p["name"] for p in paths["/by-offset"]["get"]["parameters"]}
    assert names == {"page", "page_size", "limit", "size", "offset"}
    names = {p["name"] for p in paths["/by-page"]["get"]["parameters"]}
    assert names == {"page", "page_size", "limit", "size"}
