"""Use cases and business rules of product-service.

Every change and its ``product-updated`` event are written in one MongoDB transaction (the
event into the ``outbox`` collection); the relay publishes it after commit.
"""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from bson import ObjectId
from bson.errors import InvalidId

from chassis import BadRequest, NotFound
from chassis.mongo_outbox import enqueue
from contracts import PRODUCT_UPDATED, ProductSnapshot, ProductUpdated
from product_service.config import Settings
from product_service.models import (
    Document,
    cents_to_price,
    format_time,
    new_document,
    parse_time,
    to_stored_fields,
)
from product_service.repository import ProductRepository, Session, literal_search
from product_service.schemas import Product, ProductCreate, ProductPage, ProductUpdate

log = structlog.get_logger(__name__)

Op = Literal["upsert", "delete"]
UPSERT: Op = "upsert"
DELETE: Op = "delete"


def parse_product_id(raw: str) -> ObjectId:
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise BadRequest(f"Invalid product id: {raw[:64]}") from None


def to_product(document: Document) -> Product:
    return Product(
        id=str(document["_id"]),
        name=document["name"],
        description=document.get("description") or "",
        price=cents_to_price(document["price_cents"]),
        category=document["category"],
        tags=list(document.get("tags") or []),
        stock_quantity=int(document.get("stock_quantity") or 0),
        image_url=document.get("image_url"),
        created_at=parse_time(document["created_at"]),
        updated_at=parse_time(document["updated_at"]),
        version=int(document.get("version") or 1),
    )


def _not_found(product_id: str) -> NotFound:
    return NotFound(f"Product not found: {product_id}")


def product_updated_data(
    op: Op, product_id: str, version: int, product: Product | None
) -> ProductUpdated:
    """The product-updated data, built from the contract (the whole product on upsert)."""
    return ProductUpdated(
        op=op,
        product_id=product_id,
        version=version,
        product=None if product is None else ProductSnapshot(**product.model_dump()),
    )


class ProductService:
    def __init__(
        self,
        repository: ProductRepository,
        settings: Settings,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.repo = repository
        self.settings = settings
        # Called after every commit that wrote an event (wakes the outbox relay).
        self.on_commit = on_commit

    async def create(self, data: ProductCreate) -> Product:
        document = new_document(data.model_dump(), datetime.now(UTC))
        product = to_product(document)

        async def work(session: Session) -> None:
            await self.repo.insert(session, document)
            await self._emit(session, UPSERT, product.id, product.version, product)

        await self.repo.in_transaction(work)
        self.on_commit()
        log.info("product.created", product_id=product.id)
        return product

    async def get(self, product_id: str) -> Product:
        document = await self.repo.get(parse_product_id(product_id))
        if document is None:
            raise _not_found(product_id)
        return to_product(document)

    async def list(self, page: int, page_size: int) -> ProductPage:
        return await self._page({}, page, page_size)

    async def search(self, text: str, page: int, page_size: int) -> ProductPage:
        # re.escape: the user's text is matched literally, never run as a pattern.
        return await self._page(literal_search(re.escape(text)), page, page_size)

    async def update(self, product_id: str, data: ProductUpdate | None) -> Product:
        oid = parse_product_id(product_id)
        given = data.changes() if data is not None else {}
        if not given:
            raise BadRequest("No fields to update")
        changes = to_stored_fields(given)
        changes["updated_at"] = format_time(datetime.now(UTC))

        async def work(session: Session) -> Product | None:
            document = await self.repo.update(session, oid, changes)
            if document is None:
                return None
            product = to_product(document)
            await self._emit(session, UPSERT, product.id, product.version, product)
            return product

        product = await self.repo.in_transaction(work)
        if product is None:
            raise _not_found(product_id)
        self.on_commit()
        log.info("product.updated", product_id=product_id, version=product.version)
        return product

    async def delete(self, product_id: str) -> str:
        oid = parse_product_id(product_id)

        async def work(session: Session) -> int | None:
            document = await self.repo.delete(session, oid)
            if document is None:
                return None
            version = int(document.get("version") or 1) + 1
            await self._emit(session, DELETE, product_id, version, None)
            return version

        version = await self.repo.in_transaction(work)
        if version is None:
            raise _not_found(product_id)
        self.on_commit()
        log.info("product.deleted", product_id=product_id, version=version)
        return f"Product {product_id} deleted successfully"

    async def find_by_name(self, name: str) -> Product | None:
        document = await self.repo.find_by_name(name)
        return None if document is None else to_product(document)

    async def _page(self, query: dict[str, Any], page: int, page_size: int) -> ProductPage:
        documents, total = await self.repo.page(query, (page - 1) * page_size, page_size)
        return ProductPage(
            products=[to_product(d) for d in documents],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def _emit(
        self, session: Session, op: Op, product_id: str, version: int, product: Product | None
    ) -> None:
        topic = self.settings.topic_product_updated
        event = PRODUCT_UPDATED.event(
            product_updated_data(op, product_id, version, product),
            source=self.settings.service_name,
            subject=product_id,
            event_type=topic,
        )
        await enqueue(session, self.repo.outbox, topic, event, key=product_id)
