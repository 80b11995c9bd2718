"""Every MongoDB query of product-service lives here.

The service layer speaks in domain terms (product ids as strings, public fields, page
numbers, `Product`); this module turns them into ObjectIds, query documents and stored
fields, and stored documents back into `Product`. A malformed id is the domain's
`BadRequest` before any MongoDB call.
"""

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from chassis import BadRequest, DependencyUnavailable
from chassis.events import CloudEvent
from chassis.mongo_outbox import enqueue, ensure_outbox_indexes
from product_service.models import (
    OUTBOX,
    PRODUCTS,
    Document,
    cents_to_price,
    format_time,
    new_document,
    parse_time,
    to_stored_fields,
)
from product_service.schemas import Product

T = TypeVar("T")
# The open transaction, passed back to the write methods; the service layer never looks in.
Session = AsyncClientSession


def parse_product_id(raw: str) -> ObjectId:
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise BadRequest(f"Invalid product id: {raw[:64]}") from None


def check_product_id(product_id: str) -> None:
    """A malformed id is a 400 before anything else is looked at (or a transaction opened)."""
    parse_product_id(product_id)


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


@dataclass(frozen=True)
class NewProduct:
    """A product about to be inserted: its id is fixed once, so a retried transaction
    inserts the same document."""

    product: Product
    document: Document


def new_product(fields: dict[str, Any], now: datetime) -> NewProduct:
    """`fields` are validated public fields (price as a Decimal)."""
    document = new_document(fields, now)
    return NewProduct(to_product(document), document)


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

    async def enqueue(self, session: Session, topic: str, event: CloudEvent, key: str) -> None:
        """The event into the outbox, in the transaction of the change it announces."""
        await enqueue(session, self.outbox, topic, event, key=key)

    async def insert(self, session: Session, new: NewProduct) -> None:
        await self.products.insert_one(new.document, session=session)

    async def update(
        self, session: Session, product_id: str, changes: dict[str, Any], now: datetime
    ) -> Product | None:
        """Set the given public fields, move updated_at to `now` and raise the version; the
        product as it is now, or None when there is none with this id."""
        stored = to_stored_fields(changes)
        stored["updated_at"] = format_time(now)
        document = await self.products.find_one_and_update(
            {"_id": parse_product_id(product_id)},
            {"$set": stored, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return None if document is None else to_product(document)

    async def delete(self, session: Session, product_id: str) -> int | None:
        """Delete the product; the version it had, or None when there is none with this id."""
        document = await self.products.find_one_and_delete(
            {"_id": parse_product_id(product_id)}, session=session
        )
        return None if document is None else int(document.get("version") or 1)

    async def get(self, product_id: str) -> Product | None:
        document = await self.products.find_one({"_id": parse_product_id(product_id)})
        return None if document is None else to_product(document)

    async def find_by_name(self, name: str) -> Product | None:
        document = await self.products.find_one({"name": name}, sort=[("_id", ASCENDING)])
        return None if document is None else to_product(document)

    async def page(
        self, page: int, page_size: int, text: str | None = None
    ) -> tuple[list[Product], int]:
        """One page (1-based) in creation order (ObjectIds grow with time) and the total count;
        with `text`, only the products whose name, category or a tag contains it."""
        # re.escape: the user's text is matched literally, never run as a pattern.
        query = {} if text is None else literal_search(re.escape(text))
        documents = await self.products.find(
            query, sort=[("_id", ASCENDING)], skip=(page - 1) * page_size, limit=page_size
        ).to_list()
        total = int(await self.products.count_documents(query))
        return [to_product(d) for d in documents], total


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
