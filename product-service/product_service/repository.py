"""Every MongoDB query of product-service lives here."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from chassis import DependencyUnavailable
from chassis.mongo_outbox import ensure_outbox_indexes
from product_service.models import OUTBOX, PRODUCTS, Document

T = TypeVar("T")
Session = AsyncClientSession


class ProductRepository:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db_name: str,
        *,
        serialize_transactions: bool,
        transaction_timeout_seconds: float | None = None,
    ) -> None:
        self.client = client
        # pymongo retries a transaction that failed for a transient reason (the server away)
        # for up to 120 s; a request must get its 503 long before that.
        self.transaction_timeout_seconds = transaction_timeout_seconds
        self.db = client[db_name]
        self.products: AsyncCollection[Document] = self.db[PRODUCTS]
        self.outbox: AsyncCollection[Document] = self.db[OUTBOX]
        # Shared with the outbox relay when the server lacks transaction isolation.
        self.transaction_lock: asyncio.Lock | None = (
            asyncio.Lock() if serialize_transactions else None
        )

    async def ensure_indexes(self) -> None:
        await self.products.create_index([("name", ASCENDING)], name="name")
        await self.products.create_index([("category", ASCENDING)], name="category")
        await self.products.create_index([("tags", ASCENDING)], name="tags")
        await ensure_outbox_indexes(self.outbox)

    async def ping(self) -> None:
        await self.db.command("ping")

    async def in_transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; retried on MongoDB's transient transaction errors."""
        lock = self.transaction_lock or contextlib.nullcontext()
        try:
            async with asyncio.timeout(self.transaction_timeout_seconds):
                async with lock, self.client.start_session() as session:
                    return await session.with_transaction(work)
        except TimeoutError:
            raise DependencyUnavailable(
                "MongoDB is unavailable; please retry in a few seconds."
            ) from None

    async def insert(self, session: Session, document: Document) -> None:
        await self.products.insert_one(document, session=session)

    async def update(
        self, session: Session, product_id: ObjectId, changes: dict[str, Any]
    ) -> Document | None:
        return await self.products.find_one_and_update(
            {"_id": product_id},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )

    async def delete(self, session: Session, product_id: ObjectId) -> Document | None:
        return await self.products.find_one_and_delete({"_id": product_id}, session=session)

    async def get(self, product_id: ObjectId) -> Document | None:
        return await self.products.find_one({"_id": product_id})

    async def find_by_name(self, name: str) -> Document | None:
        return await self.products.find_one({"name": name}, sort=[("_id", ASCENDING)])

    async def page(
        self, query: dict[str, Any], skip: int, limit: int
    ) -> tuple[list[Document], int]:
        """One page in creation order (ObjectIds grow with time) and the total count."""
        documents = await self.products.find(
            query, sort=[("_id", ASCENDING)], skip=skip, limit=limit
        ).to_list()
        return documents, int(await self.products.count_documents(query))


def literal_search(pattern: str) -> dict[str, Any]:
    """Case-insensitive match of an already escaped pattern on name, category or any tag.

    A string ``$regex`` with ``$options`` (not a compiled BSON regex), and ``$elemMatch`` for
    the tags (nx-27017 would otherwise match the regex against the array's JSON text, so a
    ``[`` would find every product): both behave the same on MongoDB and nx-27017."""
    condition = {"$regex": pattern, "$options": "i"}
    return {
        "$or": [
            {"name": dict(condition)},
            {"category": dict(condition)},
            {"tags": {"$elemMatch": dict(condition)}},
        ]
    }
