"""Service rules without a database: ids, versions and the product-updated payload."""

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from chassis import BadRequest
from chassis.events import decode_event, encode_event
from contracts import PRODUCT_UPDATED
from product_service.config import Settings
from product_service.repository import NewProduct, parse_product_id
from product_service.schemas import Product, ProductCreate, ProductUpdate
from product_service.service import ProductService


class FakeRepository:
    """Just enough of ProductRepository: one dict of products by id, transactions run inline,
    outbox events recorded by the `emitted` fixture."""

    def __init__(self) -> None:
        self.products: dict[str, Product] = {}

    async def in_transaction(self, work: Any) -> Any:
        return await work(None)

    async def enqueue(self, session: Any, topic: str, event: Any, key: str) -> None:
        raise AssertionError("the emitted fixture records the events")

    async def insert(self, session: Any, new: NewProduct) -> None:
        self.products[new.product.id] = new.product

    async def update(
        self, session: Any, product_id: str, changes: dict[str, Any], now: datetime
    ) -> Product | None:
        current = self.products.get(product_id)
        if current is None:
            return None
        changed = current.model_copy(
            update={**changes, "updated_at": now, "version": current.version + 1}
        )
        self.products[product_id] = changed
        return changed

    async def delete(self, session: Any, product_id: str) -> int | None:
        deleted = self.products.pop(product_id, None)
        return None if deleted is None else deleted.version


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, str | None]]:
    calls: list[tuple[str, Any, str | None]] = []

    async def fake_enqueue(self: Any, session: Any, topic: str, event: Any, key: Any = None):
        calls.append((topic, event, key))

    monkeypatch.setattr(FakeRepository, "enqueue", fake_enqueue)
    return calls


def test_malformed_ids_are_a_clear_400() -> None:
    for raw in ("abc", "zz" * 12, "", "65f1c0ffee0123456789abc"):
        with pytest.raises(BadRequest, match="Invalid product id"):
            parse_product_id(raw)
    assert str(parse_product_id("65f1c0ffee0123456789abcd")) == "65f1c0ffee0123456789abcd"


async def test_versions_rise_and_each_change_emits_its_event(emitted) -> None:
    commits: list[int] = []
    service = ProductService(
        FakeRepository(),
        Settings(),
        on_commit=lambda: commits.append(1),  # type: ignore[arg-type]
    )
    created = await service.create(
        ProductCreate(name="Lamp", price=Decimal("19.99"), category="Home")
    )
    updated = await service.update(created.id, ProductUpdate(price=Decimal("18")))
    message = await service.delete(created.id)
    assert (created.version, updated.version) == (1, 2)
    assert message == f"Product {created.id} deleted successfully"
    assert len(commits) == 3
    datas = [event.data for _, event, _ in emitted]
    assert [d["op"] for d in datas] == ["upsert", "upsert", "delete"]
    assert [d["version"] for d in datas] == [1, 2, 3]
    assert datas[1]["product"]["price"] == Decimal("18.00")
    assert "product" not in datas[2]
    assert {topic for topic, _, _ in emitted} == {"product-updated"}
    assert {key for _, _, key in emitted} == {created.id}
    assert {event.subject for _, event, _ in emitted} == {created.id}


async def test_every_product_event_follows_its_contract(emitted) -> None:
    """Contract test (producer side): what product-service publishes parses with the model
    search-service and ai-service read it with, and carries the contract's version."""
    service = ProductService(FakeRepository(), Settings())  # type: ignore[arg-type]
    created = await service.create(
        ProductCreate(name="Lamp", price=Decimal("19.99"), category="Home", tags=["light"])
    )
    await service.update(created.id, ProductUpdate(price=Decimal("18")))
    await service.delete(created.id)
    parsed = []
    for _, event, _ in emitted:
        wire = decode_event(encode_event(event))
        assert wire.dataschema == PRODUCT_UPDATED.dataschema
        parsed.append(PRODUCT_UPDATED.parse(wire.data))
    assert [p.op for p in parsed] == ["upsert", "upsert", "delete"]
    assert parsed[0].product is not None
    assert parsed[0].product.id == created.id
    assert parsed[0].product.tags == ["light"]
    assert parsed[1].product is not None
    assert parsed[1].product.price == Decimal("18.00")
    assert parsed[2].product is None


async def test_changing_an_unknown_product_emits_nothing(emitted) -> None:
    service = ProductService(FakeRepository(), Settings())  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Product not found"):
        await service.update("65f1c0ffee0123456789abcd", ProductUpdate(name="x"))
    with pytest.raises(Exception, match="Product not found"):
        await service.delete("65f1c0ffee0123456789abcd")
    assert emitted == []
