"""Use cases and business rules of product-service.

Every change and its ``product-updated`` event are written in one MongoDB transaction (the
event into the ``outbox`` collection); the relay publishes it after commit. No MongoDB types
here: ids are strings, and ``repository`` turns them into ObjectIds and queries.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import structlog

from chassis import BadRequest, NotFound
from contracts import PRODUCT_UPDATED, ProductSnapshot, ProductUpdated
from product_service.config import Settings
from product_service.repository import (
    ProductRepository,
    Session,
    check_product_id,
    new_product,
)
from product_service.schemas import Product, ProductCreate, ProductPage, ProductUpdate

log = structlog.get_logger(__name__)

Op = Literal["upsert", "delete"]
UPSERT: Op = "upsert"
DELETE: Op = "delete"


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
        new = new_product(data.model_dump(), datetime.now(UTC))
        product = new.product

        async def work(session: Session) -> None:
            await self.repo.insert(session, new)
            await self._emit(session, UPSERT, product.id, product.version, product)

        await self.repo.in_transaction(work)
        self.on_commit()
        log.info("product.created", product_id=product.id)
        return product

    async def get(self, product_id: str) -> Product:
        product = await self.repo.get(product_id)
        if product is None:
            raise _not_found(product_id)
        return product

    async def list(self, page: int, page_size: int) -> ProductPage:
        return await self._page(None, page, page_size)

    async def search(self, text: str, page: int, page_size: int) -> ProductPage:
        # The text is matched literally (the repository escapes it), never run as a pattern.
        return await self._page(text, page, page_size)

    async def update(self, product_id: str, data: ProductUpdate | None) -> Product:
        check_product_id(product_id)
        given = data.changes() if data is not None else {}
        if not given:
            raise BadRequest("No fields to update")
        now = datetime.now(UTC)

        async def work(session: Session) -> Product | None:
            product = await self.repo.update(session, product_id, given, now)
            if product is None:
                return None
            await self._emit(session, UPSERT, product.id, product.version, product)
            return product

        product = await self.repo.in_transaction(work)
        if product is None:
            raise _not_found(product_id)
        self.on_commit()
        log.info("product.updated", product_id=product_id, version=product.version)
        return product

    async def delete(self, product_id: str) -> str:
        check_product_id(product_id)

        async def work(session: Session) -> int | None:
            last_version = await self.repo.delete(session, product_id)
            if last_version is None:
                return None
            # The delete is a change of its own: one version past the product's last.
            version = last_version + 1
            await self._emit(session, DELETE, product_id, version, None)
            return version

        version = await self.repo.in_transaction(work)
        if version is None:
            raise _not_found(product_id)
        self.on_commit()
        log.info("product.deleted", product_id=product_id, version=version)
        return f"Product {product_id} deleted successfully"

    async def find_by_name(self, name: str) -> Product | None:
        return await self.repo.find_by_name(name)

    async def _page(self, text: str | None, page: int, page_size: int) -> ProductPage:
        products, total = await self.repo.page(page, page_size, text)
        return ProductPage(
            products=products,
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
        await self.repo.enqueue(session, topic, event, key=product_id)
