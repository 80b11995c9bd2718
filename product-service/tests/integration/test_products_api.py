"""The seed's product endpoints with docs/api.md's contract, on the MongoDB wire protocol."""

import asyncio
import uuid

import httpx
from pymongo import AsyncMongoClient

from product_service.config import Settings


async def _create(client: httpx.AsyncClient, body: dict) -> dict:
    reply = await client.post("/api/products", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_create_returns_the_full_product_at_version_1(client, product_body) -> None:
    product = await _create(client, product_body())
    assert set(product) == {
        "id",
        "name",
        "description",
        "price",
        "category",
        "tags",
        "stock_quantity",
        "image_url",
        "created_at",
        "updated_at",
        "version",
    }
    assert len(product["id"]) == 24
    assert product["name"] == "iPhone 15 Pro"
    assert product["price"] == 999.99
    assert product["tags"] == ["smartphone", "apple", "5g"]
    assert product["version"] == 1
    assert product["created_at"] == product["updated_at"]
    assert product["created_at"].endswith("Z")
    fetched = (await client.get(f"/api/products/{product['id']}")).json()
    assert fetched == product  # times and price round-trip exactly through the database


async def test_prices_are_exact_json_numbers_with_two_decimals(client, product_body) -> None:
    for sent, expected in [
        (999.99, "999.99"),
        ("0.10", "0.10"),
        (19.9, "19.90"),
        (1000, "1000.00"),
        ("9999999.99", "9999999.99"),
        (0.01, "0.01"),
    ]:
        created = await client.post("/api/products", json=product_body(price=sent))
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        raw = (await client.get(f"/api/products/{product_id}")).text
        assert f'"price":{expected},' in raw, raw  # the digits on the wire, not a float's
        assert f'"price":{expected},' in created.text


async def test_stored_document_keeps_price_in_cents_and_times_as_text(
    client, product_body, product_settings: Settings
) -> None:
    product = await _create(client, product_body(price=999.99))
    await client.put(f"/api/products/{product['id']}", json={"stock_quantity": 3})
    mongo: AsyncMongoClient = AsyncMongoClient(product_settings.mongodb_url)
    try:
        from bson import ObjectId

        stored = await mongo[product_settings.mongodb_db]["products"].find_one(
            {"_id": ObjectId(product["id"])}
        )
    finally:
        await mongo.close()
    assert stored is not None
    assert stored["price_cents"] == 99999
    assert "price" not in stored
    assert isinstance(stored["created_at"], str)
    assert isinstance(stored["updated_at"], str)  # written by $set, still the same format
    assert stored["version"] == 2


async def test_malformed_id_is_400_and_unknown_id_is_404(client) -> None:
    for method in ("GET", "PUT", "DELETE"):
        kwargs = {"json": {"name": "x"}} if method == "PUT" else {}
        bad = await client.request(method, "/api/products/not-an-id", **kwargs)
        assert bad.status_code == 400
        assert bad.json() == {"detail": "Invalid product id: not-an-id"}
        missing = await client.request(method, "/api/products/65f1c0ffee0123456789abcd", **kwargs)
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Product not found: 65f1c0ffee0123456789abcd"}


async def test_invalid_bodies_are_422_with_a_list_detail(client, product_body) -> None:
    cases = [
        product_body(price=-1),
        product_body(price=0),
        product_body(price=1.005),
        product_body(price="NaN"),
        product_body(name=""),
        product_body(name="   "),
        product_body(name="nul\x00byte"),
        product_body(category=""),
        product_body(stock_quantity=-1),
        product_body(tags=["ok", ""]),
        product_body(tags=[f"t{i}" for i in range(21)]),
        product_body(image_url="javascript:alert(1)"),
        {"name": "no price", "category": "x"},
    ]
    for body in cases:
        reply = await client.post("/api/products", json=body)
        assert reply.status_code == 422, body
        assert isinstance(reply.json()["detail"], list)
    assert (await client.post("/api/products", content=b"{not json")).status_code == 422
    assert (await client.post("/api/products", content=b'{"name": "\\ud800"}')).status_code == 422


async def test_put_changes_only_given_fields_and_moves_updated_at_and_version(
    client, product_body
) -> None:
    created = await _create(client, product_body())
    await asyncio.sleep(0.002)
    reply = await client.put(f"/api/products/{created['id']}", json={"price": 899.5})
    assert reply.status_code == 200
    updated = reply.json()
    assert updated["price"] == 899.5
    assert '"price":899.50,' in reply.text
    assert {k: v for k, v in updated.items() if k not in ("price", "updated_at", "version")} == {
        k: v for k, v in created.items() if k not in ("price", "updated_at", "version")
    }
    assert updated["updated_at"] > created["updated_at"]
    assert updated["created_at"] == created["created_at"]
    assert updated["version"] == 2
    again = (
        await client.put(
            f"/api/products/{created['id']}",
            json={"tags": ["sale"], "description": "", "image_url": "", "name": None},
        )
    ).json()
    # Nulls are ignored (the name stays); an empty text clears description and image_url.
    assert (again["tags"], again["description"], again["image_url"]) == (["sale"], "", None)
    assert again["name"] == created["name"]
    assert again["version"] == 3
    assert (await client.get(f"/api/products/{created['id']}")).json() == again


async def test_put_with_nothing_to_change_is_400_and_nulls_are_ignored(
    client, product_body
) -> None:
    created = await _create(client, product_body())
    url = f"/api/products/{created['id']}"
    for body in ({}, {"name": None}, {"price": None, "description": None}, {"nope": 1}):
        reply = await client.put(url, json=body)
        assert reply.status_code == 400, body
        assert reply.json() == {"detail": "No fields to update"}
    empty = await client.put(url, content=b"", headers={"content-type": "application/json"})
    assert (empty.status_code, empty.json()) == (400, {"detail": "No fields to update"})
    assert (await client.put(url)).status_code == 400
    assert (await client.put(url, json={"price": -5})).status_code == 422
    assert (await client.get(url)).json()["version"] == 1
    # A null beside a real change is ignored: the name stays, the price moves.
    changed = (await client.put(url, json={"name": None, "price": 12, "colour": "red"})).json()
    assert (changed["name"], changed["price"], changed["version"]) == (created["name"], 12.0, 2)
    assert "colour" not in changed


async def test_unknown_fields_in_a_body_are_ignored(client, product_body) -> None:
    reply = await client.post("/api/products", json=product_body(unknown_field=1))
    assert reply.status_code == 201
    assert "unknown_field" not in reply.json()


async def test_delete_answers_message_then_404(client, product_body) -> None:
    created = await _create(client, product_body())
    reply = await client.delete(f"/api/products/{created['id']}")
    assert reply.status_code == 200
    assert reply.json() == {"message": f"Product {created['id']} deleted successfully"}
    assert (await client.get(f"/api/products/{created['id']}")).status_code == 404
    assert (await client.delete(f"/api/products/{created['id']}")).status_code == 404


async def test_list_is_paginated_in_creation_order(client, product_body) -> None:
    for i in range(3):
        await _create(client, product_body(name=f"Paged {i}"))
    first = (await client.get("/api/products", params={"page_size": 100})).json()
    assert set(first) == {"products", "total", "page", "page_size"}
    assert (first["page"], first["page_size"]) == (1, 100)
    assert first["total"] >= 3
    ids = [p["id"] for p in first["products"]]
    assert ids == sorted(ids)
    reply2 = await client.get("/api/products", params={"page": 2, "page_size": 2})
    page2 = reply2.json()
    assert [p["id"] for p in page2["products"]] == ids[2:4]
    assert reply2.headers["x-total-count"] == str(page2["total"])
    assert '/api/products?page=3&page_size=2>; rel="next"' in reply2.headers["link"]
    assert '/api/products?page=1&page_size=2>; rel="prev"' in reply2.headers["link"]
    assert page2["total"] == first["total"]
    default = (await client.get("/api/products")).json()
    assert default["page_size"] == 10  # as the original design
    assert len(default["products"]) <= 10
    for params in ({"page_size": 101}, {"page_size": 0}, {"page": 0}, {"page": "x"}):
        assert (await client.get("/api/products", params=params)).status_code == 422


async def test_search_is_case_insensitive_over_name_category_and_tags(client, product_body) -> None:
    marker = uuid.uuid4().hex[:8]
    by_name = await _create(client, product_body(name=f"Zephyr{marker} Lamp", tags=[]))
    by_category = await _create(
        client, product_body(name="Chair", category=f"Furniture{marker}", tags=[])
    )
    by_tag = await _create(client, product_body(name="Desk", tags=[f"oak{marker}"]))
    for q, expected in [
        (f"zephyr{marker.upper()}", {by_name["id"]}),
        (f"FURNITURE{marker}", {by_category["id"]}),
        (f"Oak{marker}", {by_tag["id"]}),
        (marker, {by_name["id"], by_category["id"], by_tag["id"]}),
    ]:
        reply = await client.get("/api/products/search", params={"q": q})
        assert {p["id"] for p in reply.json()} == expected, q
        assert reply.headers["x-total-count"] == str(len(expected))


async def test_search_text_is_literal_never_a_pattern(client, product_body) -> None:
    marker = uuid.uuid4().hex[:8]
    odd = await _create(client, product_body(name=f"Lamp (big) a.*b {marker}"))
    await _create(client, product_body(name=f"Lamp big axxb {marker}"))
    for q, expected in [
        (f"(big) a.*b {marker}", 1),
        (".*", None),  # literal ".*" only
        ("(", None),
        ("[", None),
        ("\\", None),
        ("a|b", None),
        (f"{marker}$", 0),
    ]:
        reply = await client.get("/api/products/search", params={"q": q, "page_size": 100})
        assert reply.status_code == 200, (q, reply.text)
        for product in reply.json():
            haystack = " ".join([product["name"], product["category"], *product["tags"]]).lower()
            assert q.lower() in haystack, (q, product["name"])
        if expected is not None:
            assert reply.headers["x-total-count"] == str(expected), q
    literal = (await client.get("/api/products/search", params={"q": f"a.*b {marker}"})).json()
    assert [p["id"] for p in literal] == [odd["id"]]


async def test_search_results_are_bounded_and_query_is_validated(client, product_body) -> None:
    marker = uuid.uuid4().hex[:8]
    for i in range(3):
        await _create(client, product_body(name=f"Bulk {marker} {i}"))
    # The original's shape: a bare array, the total in X-Total-Count, the next page in Link.
    first = await client.get("/api/products/search", params={"q": marker, "page_size": 2})
    assert isinstance(first.json(), list)
    assert (len(first.json()), first.headers["x-total-count"]) == (2, "3")
    assert 'rel="next"' in first.headers["link"]
    next_url = next(
        part.split(";")[0].strip()[1:-1]
        for part in first.headers["link"].split(",")
        if 'rel="next"' in part
    )
    assert next_url.startswith("/api/products/search?")  # relative: never a service address
    rest = await client.get(next_url)
    assert len(rest.json()) == 1
    assert 'rel="next"' not in rest.headers["link"]
    assert 'rel="prev"' in rest.headers["link"]
    by_limit = await client.get("/api/products/search", params={"q": marker, "limit": 1})
    assert (len(by_limit.json()), by_limit.headers["x-total-count"]) == (1, "3")
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 101}, {"q": "a", "page_size": 101}):
        assert (await client.get("/api/products/search", params=params)).status_code == 422


async def test_concurrent_updates_each_get_their_own_version(client, product_body) -> None:
    created = await _create(client, product_body())
    replies = await asyncio.gather(
        *(
            client.put(f"/api/products/{created['id']}", json={"stock_quantity": n})
            for n in range(10)
        )
    )
    assert [r.status_code for r in replies] == [200] * 10
    assert sorted(r.json()["version"] for r in replies) == list(range(2, 12))
    assert (await client.get(f"/api/products/{created['id']}")).json()["version"] == 11


async def test_health_and_ready_report_up(client) -> None:
    health = (await client.get("/health")).json()
    assert (health["status"], health["service"]) == ("UP", "product-service")
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["mongodb"]["status"] == "UP"
