"""Reservations: all or nothing, idempotent by id, confirm/release, expiry gives stock back,
and concurrency can never oversell."""

import asyncio
import uuid

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from inventory_service.config import Settings


async def _stock(
    client: httpx.AsyncClient, product_id: str, quantity: int, name: str = "Widget"
) -> None:
    reply = await client.post(
        "/api/inventory",
        json={"product_id": product_id, "product_name": name, "quantity": quantity},
    )
    assert reply.status_code == 201, reply.text


async def _item(client: httpx.AsyncClient, product_id: str) -> dict:
    return (await client.get(f"/api/inventory/{product_id}")).json()


def _reservation(*lines: tuple[str, int], ttl: int | None = None) -> dict:
    body: dict = {
        "reservation_id": str(uuid.uuid4()),
        "items": [{"product_id": p, "quantity": q} for p, q in lines],
    }
    if ttl is not None:
        body["ttl_seconds"] = ttl
    return body


async def test_reservation_holds_stock_and_lowers_available(client, product_id) -> None:
    await _stock(client, product_id, 10)
    reply = await client.post("/api/inventory/reservations", json=_reservation((product_id, 4)))
    assert reply.status_code == 201
    assert reply.json()["status"] == "HELD"
    item = await _item(client, product_id)
    assert (item["quantity"], item["reserved_qty"], item["available_qty"]) == (10, 4, 6)


async def test_reservation_is_all_or_nothing_naming_the_short_product(client) -> None:
    plenty, scarce = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    await _stock(client, plenty, 10, "Plenty")
    await _stock(client, scarce, 1, "Scarce Lamp")
    reply = await client.post(
        "/api/inventory/reservations", json=_reservation((plenty, 5), (scarce, 2))
    )
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: Scarce Lamp"}
    assert (await _item(client, plenty))["reserved_qty"] == 0
    assert (await _item(client, scarce))["reserved_qty"] == 0


async def test_reservation_of_unknown_product_is_404(client) -> None:
    reply = await client.post("/api/inventory/reservations", json=_reservation(("ghost-1", 1)))
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Inventory not found for product: ghost-1"}


async def test_retry_with_same_id_returns_first_reservation_without_holding_twice(
    client, product_id
) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 3))
    first = await client.post("/api/inventory/reservations", json=body)
    again = await client.post("/api/inventory/reservations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reservation_id"] == first.json()["reservation_id"]
    assert (await _item(client, product_id))["reserved_qty"] == 3


async def test_same_id_with_different_items_is_409(client, product_id) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 3))
    await client.post("/api/inventory/reservations", json=body)
    body["items"][0]["quantity"] = 4
    reply = await client.post("/api/inventory/reservations", json=body)
    assert reply.status_code == 409
    assert "already exists with different items" in reply.json()["detail"]


async def test_duplicate_product_lines_and_empty_items_are_422(client, product_id) -> None:
    dup = await client.post(
        "/api/inventory/reservations", json=_reservation((product_id, 1), (product_id, 2))
    )
    assert dup.status_code == 422
    empty = await client.post(
        "/api/inventory/reservations", json={"reservation_id": str(uuid.uuid4()), "items": []}
    )
    assert empty.status_code == 422


async def test_confirm_then_release_gives_stock_back_once(client, product_id) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 4))
    rid = body["reservation_id"]
    await client.post("/api/inventory/reservations", json=body)
    confirmed = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert confirmed.json()["status"] == "CONFIRMED"
    assert (await client.post(f"/api/inventory/reservations/{rid}/confirm")).status_code == 200
    for _ in range(2):  # release is idempotent
        released = await client.post(f"/api/inventory/reservations/{rid}/release")
        assert released.status_code == 200
        assert released.json()["status"] == "RELEASED"
    item = await _item(client, product_id)
    assert (item["reserved_qty"], item["available_qty"]) == (0, 10)
    late = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert late.status_code == 409


async def test_reservation_lookup_errors(client) -> None:
    assert (await client.get("/api/inventory/reservations/not-a-uuid")).status_code == 400
    missing = await client.get(f"/api/inventory/reservations/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("Reservation not found")


async def test_unconfirmed_reservation_expires_and_stock_returns(
    client, product_id, inventory_settings: Settings
) -> None:
    await _stock(client, product_id, 5)
    body = _reservation((product_id, 5), ttl=1)
    rid = body["reservation_id"]
    await client.post("/api/inventory/reservations", json=body)
    assert (await _item(client, product_id))["available_qty"] == 0
    deadline = asyncio.get_running_loop().time() + 10
    while (await _item(client, product_id))["available_qty"] != 5:
        assert asyncio.get_running_loop().time() < deadline, "sweeper never returned the stock"
        await asyncio.sleep(0.2)
    assert (await client.get(f"/api/inventory/reservations/{rid}")).json()["status"] == "EXPIRED"
    late = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert late.status_code == 409
    assert "can no longer be confirmed" in late.json()["detail"]


async def test_confirmed_reservation_never_expires(client, product_id) -> None:
    await _stock(client, product_id, 5)
    body = _reservation((product_id, 2), ttl=1)
    await client.post("/api/inventory/reservations", json=body)
    await client.post(f"/api/inventory/reservations/{body['reservation_id']}/confirm")
    await asyncio.sleep(1.6)
    assert (await _item(client, product_id))["reserved_qty"] == 2


async def test_concurrent_reservations_never_oversell(client, product_id) -> None:
    await _stock(client, product_id, 50)
    replies = await asyncio.gather(
        *(
            client.post("/api/inventory/reservations", json=_reservation((product_id, 1)))
            for _ in range(200)
        )
    )
    codes = [r.status_code for r in replies]
    assert codes.count(201) == 50
    assert codes.count(400) == 150
    item = await _item(client, product_id)
    assert (item["reserved_qty"], item["available_qty"]) == (50, 0)


async def test_delete_refused_while_units_are_reserved(client, product_id) -> None:
    await _stock(client, product_id, 5)
    await client.post("/api/inventory/reservations", json=_reservation((product_id, 1)))
    reply = await client.delete(f"/api/inventory/{product_id}")
    assert reply.status_code == 409
    assert "1 units are reserved" in reply.json()["detail"]


async def test_multi_item_reservations_in_any_item_order_neither_deadlock_nor_oversell(
    client,
) -> None:
    """Each reservation locks its rows in product_id order whatever order its items come in,
    and releases lock them in the same order: 80 two-item reservations (half listing the items
    the other way round) racing 10 releases all finish, and each product holds exactly the
    units the successful reservations took."""
    first, second = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    await _stock(client, first, 40)
    await _stock(client, second, 40)
    held = [_reservation((first, 1), (second, 1)) for _ in range(10)]
    for body in held:
        assert (await client.post("/api/inventory/reservations", json=body)).status_code == 201
    racing = [
        _reservation((first, 1), (second, 1)) if n % 2 else _reservation((second, 1), (first, 1))
        for n in range(80)
    ]
    replies = await asyncio.wait_for(
        asyncio.gather(
            *(client.post("/api/inventory/reservations", json=body) for body in racing),
            *(
                client.post(f"/api/inventory/reservations/{body['reservation_id']}/release")
                for body in held
            ),
        ),
        timeout=60,
    )
    codes = [reply.status_code for reply in replies[: len(racing)]]
    assert set(codes) <= {201, 400}
    assert all(reply.status_code == 200 for reply in replies[len(racing) :])
    # 30 units were free from the start; the 10 released may come back before or after the
    # last racer tried.
    assert 30 <= codes.count(201) <= 40, codes
    for product in (first, second):
        item = await _item(client, product)
        assert item["reserved_qty"] == codes.count(201)
        assert item["available_qty"] == 40 - codes.count(201)


async def test_retries_of_a_reservation_racing_its_release_never_fail_or_miscount(
    client,
) -> None:
    """A client's retry of a reservation (the same id again) locked the stock rows before it
    met the existing reservation row, which a release of it had locked first and whose stock
    rows it wanted next: PostgreSQL aborted one of them as a deadlock, and the reserve answered
    500. A retry of an existing reservation now locks nothing, and a reservation statement
    that still loses a deadlock is run again; a release that does is a 503 with Retry-After.
    40 reservations, each sent twice at once and released at once, three products each."""
    products = [f"t{n}-{uuid.uuid4().hex[:8]}" for n in range(3)]
    for product in products:
        await _stock(client, product, 500)
    bodies = [_reservation(*((p, 1 + n % 3) for p in products)) for n in range(40)]
    # Each reservation exists once before its twins and its release race.
    for body in bodies:
        assert (await client.post("/api/inventory/reservations", json=body)).status_code == 201

    async def race(body: dict) -> list[httpx.Response]:
        path = f"/api/inventory/reservations/{body['reservation_id']}"
        return list(
            await asyncio.gather(
                client.post("/api/inventory/reservations", json=body),
                client.post("/api/inventory/reservations", json=body),
                client.post(f"{path}/release"),
            )
        )

    results = await asyncio.wait_for(asyncio.gather(*(race(body) for body in bodies)), 60)
    for twin, other_twin, release in results:
        # A replay: the reservation as it stands (held, or already released).
        assert twin.status_code == other_twin.status_code == 200, (twin.text, other_twin.text)
        assert release.status_code in (200, 503), release.text
    released = sum(release.status_code == 200 for *_, release in results)
    held = [
        body
        for body, (*_, release) in zip(bodies, results, strict=True)
        if release.status_code != 200
    ]
    for product in products:
        item = await _item(client, product)
        expected = sum(
            line["quantity"]
            for body in held
            for line in body["items"]
            if line["product_id"] == product
        )
        assert item["reserved_qty"] == expected, (product, released, item)


async def test_the_first_short_line_in_product_order_is_named(client) -> None:
    """Unknown products are 404 and short ones 400, whichever comes first by product_id; a
    refused reservation holds nothing and leaves no reservation behind."""
    plenty, scarce = f"m-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    await _stock(client, plenty, 10, "Plenty")
    await _stock(client, scarce, 1, "Scarce Lamp")
    body = _reservation((f"z-ghost-{uuid.uuid4().hex[:6]}", 1), (scarce, 2), (plenty, 1))
    reply = await client.post("/api/inventory/reservations", json=body)
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: Scarce Lamp"}
    ghost = f"a-ghost-{uuid.uuid4().hex[:6]}"
    reply = await client.post(
        "/api/inventory/reservations", json=_reservation((scarce, 2), (ghost, 1), (plenty, 1))
    )
    assert reply.status_code == 404
    assert reply.json() == {"detail": f"Inventory not found for product: {ghost}"}
    missing = await client.get(f"/api/inventory/reservations/{body['reservation_id']}")
    assert missing.status_code == 404
    assert (await _item(client, plenty))["reserved_qty"] == 0
    # The same id may then be used for a reservation that fits.
    body["items"] = [{"product_id": plenty, "quantity": 2}]
    assert (await client.post("/api/inventory/reservations", json=body)).status_code == 201
    assert (await _item(client, plenty))["reserved_qty"] == 2


async def test_units_taken_while_the_reservation_waits_on_the_row_lock_refuse_it_whole(
    client, inventory_settings: Settings
) -> None:
    """The snapshot shows enough, but another transaction holds the second row and takes its
    last units: the conditional UPDATE, rechecked once the lock is granted, refuses that line,
    and the line already held is given back with everything else (all or nothing)."""
    first, second = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    await _stock(client, first, 5, "First")
    await _stock(client, second, 3, "Second Lamp")
    dsn = make_url(inventory_settings.database_url).set(drivername="postgresql")
    other = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        blocker = other.transaction()
        await blocker.start()
        await other.execute(
            "UPDATE inventory SET reserved_qty = quantity WHERE product_id = $1", second
        )
        body = _reservation((first, 2), (second, 1))
        pending = asyncio.create_task(client.post("/api/inventory/reservations", json=body))
        await asyncio.sleep(0.5)  # the reservation now waits on the blocker's row lock
        assert not pending.done()
        await blocker.commit()
        reply = await asyncio.wait_for(pending, timeout=10)
    finally:
        await other.close()
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: Second Lamp"}
    assert (await _item(client, first))["reserved_qty"] == 0
    missing = await client.get(f"/api/inventory/reservations/{body['reservation_id']}")
    assert missing.status_code == 404


async def test_a_reservation_crossing_the_threshold_writes_one_alert_with_the_change(
    client, inventory_settings: Settings
) -> None:
    """A reservation is one statement without a transaction, except when it takes an item
    below its low-stock threshold: then it is made again in a transaction that writes the
    inventory-low outbox row with the stock change. Each crossing is alerted once: not by the
    reservations before it, nor after it, nor by a retry."""
    calm, crossing = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    for product in (calm, crossing):
        reply = await client.post(
            "/api/inventory",
            json={
                "product_id": product,
                "product_name": "Desk Lamp",
                "quantity": 100 if product == calm else 12,
                "low_stock_threshold": 10,
            },
        )
        assert reply.status_code == 201, reply.text

    async def alerts() -> dict[str, int]:
        dsn = make_url(inventory_settings.database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            rows = await connection.fetch(
                "SELECT key, count(*) AS n FROM outbox WHERE topic = $1 AND key = ANY($2) "
                "GROUP BY key",
                inventory_settings.topic_inventory_low,
                [calm, crossing],
            )
        finally:
            await connection.close()
        return {row["key"]: row["n"] for row in rows}

    first = _reservation((calm, 5), (crossing, 2))  # 12 → 10: not below
    assert (await client.post("/api/inventory/reservations", json=first)).status_code == 201
    assert await alerts() == {}
    second = _reservation((calm, 5), (crossing, 1))  # 10 → 9: crosses
    assert (await client.post("/api/inventory/reservations", json=second)).status_code == 201
    assert (await client.post("/api/inventory/reservations", json=second)).status_code == 200
    third = _reservation((crossing, 1))  # 9 → 8: already low
    assert (await client.post("/api/inventory/reservations", json=third)).status_code == 201
    assert await alerts() == {crossing: 1}
    for product, reserved in ((calm, 10), (crossing, 4)):
        assert (await _item(client, product))["reserved_qty"] == reserved
    replay = await client.post("/api/inventory/reservations", json=second)
    assert replay.status_code == 200
    assert replay.json()["items"] == [
        {"product_id": calm, "quantity": 5},
        {"product_id": crossing, "quantity": 1},
    ]
