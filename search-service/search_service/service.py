"""Use cases of search-service: search, autocomplete, filter, applying product-updated events
and the full reindex. No FastAPI and no Elasticsearch types or replies here: the repository
(`ProductIndex`) builds the queries and returns hits, totals, suggestions and facet counts."""

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from chassis import Conflict
from chassis.events import CloudEvent
from chassis.product_catalog import ProductCatalogReader
from search_service.config import Settings
from search_service.events import ProductUpdated
from search_service.models import CatalogProduct, product_document, tombstone_document
from search_service.repository import (
    PRICE_RANGES,
    AliasMissing,
    FilterQuery,
    ProductIndex,
    SearchUnavailable,
)
from search_service.schemas import (
    AppliedFilters,
    AutocompleteResults,
    Facets,
    FilterResults,
    PriceRangeFacet,
    ReindexReport,
    SearchResults,
)

log = structlog.get_logger(__name__)

AUTOCOMPLETE_LIMIT = 10
# Guards an endless paging loop if product-service kept answering full pages.
MAX_PAGES_PER_PASS = 100_000


class EventApplied:
    WRITTEN = "written"
    STALE = "stale"


class PoisonEvent(ValueError):
    """The event's data can never be applied; the consumer dead-letters it."""


def clean_text(text: str) -> str:
    """Control characters carry no meaning in a query; whitespace is collapsed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


class SearchService:
    def __init__(
        self, index: ProductIndex, catalog: ProductCatalogReader, settings: Settings
    ) -> None:
        self.index = index
        self.catalog = catalog
        self.settings = settings
        self._index_ready = False
        self._reindex_lock = asyncio.Lock()
        self._rebuild_active = False
        self._rebuild_checked_at: float | None = None

    # -- index lifecycle -----------------------------------------------------------------

    async def prepare_index(self) -> None:
        """Create the alias and its first index if missing (idempotent, cheap once done)."""
        if not self._index_ready:
            await self.index.ensure_alias()
            self._index_ready = True

    async def ping(self) -> None:
        await self.index.ping()

    # -- queries ---------------------------------------------------------------------------

    async def search(self, q: str, page: int, size: int) -> SearchResults:
        text = clean_text(q)
        await self.prepare_index()
        found = await self.index.search(text, (page - 1) * size, size)
        return SearchResults(query=text, total=found.total, page=page, size=size, hits=found.hits)

    async def autocomplete(self, q: str) -> AutocompleteResults:
        prefix = clean_text(q)
        if not prefix:
            return AutocompleteResults(query=prefix, suggestions=[])
        await self.prepare_index()
        suggestions = await self.index.autocomplete(prefix, AUTOCOMPLETE_LIMIT)
        return AutocompleteResults(query=prefix, suggestions=suggestions)

    async def filter(
        self,
        category: str | None,
        min_price: float | None,
        max_price: float | None,
        tags: list[str],
        page: int,
        size: int,
    ) -> FilterResults:
        category = clean_text(category) if category is not None else None
        tags = [clean_text(tag) for tag in tags if clean_text(tag)]
        await self.prepare_index()
        query = FilterQuery(
            category_key=category.lower() if category else None,
            min_price=min_price,
            max_price=max_price,
            tag_keys=sorted({tag.lower() for tag in tags}),
        )
        found = await self.index.filter(query, (page - 1) * size, size)
        # Every price range is shown, in order, with 0 when nothing falls in it.
        price_ranges = [
            PriceRangeFacet(
                key=key, min_price=low, max_price=high, count=found.price_range_counts.get(key, 0)
            )
            for key, low, high in PRICE_RANGES
        ]
        return FilterResults(
            total=found.total,
            page=page,
            size=size,
            filters=AppliedFilters(
                category=category or None, min_price=min_price, max_price=max_price, tags=tags
            ),
            hits=found.hits,
            facets=Facets(categories=found.categories, price_ranges=price_ranges),
        )

    # -- events ----------------------------------------------------------------------------

    async def handle_product_event(self, event: CloudEvent) -> None:
        """Consumer handler for product-updated. Bad data raises `PoisonEvent` (dead-lettered
        after the consumer's retries); Elasticsearch trouble raises `SearchUnavailable`
        (the consumer pauses and reads the record again)."""
        try:
            update = ProductUpdated.model_validate(event.data)
        except ValidationError as exc:
            raise PoisonEvent(f"product-updated event {event.id} has bad data: {exc}") from exc
        outcome = await self.apply(update)
        log.info(
            "search.event.applied",
            event_id=event.id,
            op=update.op,
            product_id=update.product_id,
            version=update.version,
            outcome=outcome,
        )

    async def apply(self, update: ProductUpdated) -> str:
        """Write the event's state with its version as an external version; idempotent, and an
        older version never replaces a newer one."""
        if update.op == "upsert":
            assert update.product is not None  # the model guarantees it
            document = product_document(update.product, update.version)
        else:
            document = tombstone_document(update.product_id, update.version)
        await self.prepare_index()
        if await self._rebuild_running():
            # The rebuild's index gets every event first; then the live one (see README).
            try:
                await self.index.write(
                    self.index.rebuild_alias, update.product_id, document, update.version
                )
            except AliasMissing:
                self._rebuild_active = False
        try:
            written = await self.index.write(
                self.index.alias, update.product_id, document, update.version
            )
        except AliasMissing:
            # Someone removed the alias: recreate it and write again.
            self._index_ready = False
            await self.prepare_index()
            written = await self.index.write(
                self.index.alias, update.product_id, document, update.version
            )
        return EventApplied.WRITTEN if written else EventApplied.STALE

    async def _rebuild_running(self) -> bool:
        now = time.monotonic()
        interval = self.settings.rebuild_check_interval_seconds
        if self._rebuild_checked_at is None or now - self._rebuild_checked_at >= interval:
            self._rebuild_active = bool(await self.index.indices_of(self.index.rebuild_alias))
            self._rebuild_checked_at = now
        return self._rebuild_active

    # -- full reindex ----------------------------------------------------------------------

    async def reindex(self) -> ReindexReport:
        """Rebuild the index from product-service into a new index, then swap the alias in one
        atomic step. Searches keep using the old index until the swap."""
        if self._reindex_lock.locked():
            raise Conflict("A reindex is already running; try again when it has finished")
        async with self._reindex_lock:
            started = time.perf_counter()
            await self.prepare_index()
            await self._refuse_if_another_rebuild_runs()
            previous = await self.index.indices_of(self.index.alias)
            new = self.index.new_index_name()
            await self.index.create_index(new)
            log.info("search.reindex.started", index=new, previous=previous)
            try:
                await self.index.mark_rebuilding(new)
                self._rebuild_active, self._rebuild_checked_at = True, time.monotonic()
                # Let every replica's consumer see the marker before the catalog is read, so
                # no event is written only to the old index after the read (README).
                await asyncio.sleep(self.settings.rebuild_check_interval_seconds)
                counts = await self._load_catalog(new)
                await self.index.swap(new, previous)
            except BaseException:
                await asyncio.shield(self._abandon(new))
                raise
            finally:
                self._rebuild_active, self._rebuild_checked_at = False, None
            for old in previous:
                try:
                    await self.index.delete_index(old)
                except SearchUnavailable:
                    log.warning("search.reindex.old_index_not_deleted", index=old)
            report = ReindexReport(
                index=new,
                alias=self.index.alias,
                previous_indices=previous,
                took_ms=round((time.perf_counter() - started) * 1000),
                **counts,
            )
            log.info("search.reindex.finished", **report.model_dump())
            return report

    async def _refuse_if_another_rebuild_runs(self) -> None:
        for index in await self.index.indices_of(self.index.rebuild_alias):
            created = await self.index.created_at(index)
            age = (datetime.now(UTC) - created).total_seconds() if created else float("inf")
            if age < self.settings.reindex_stale_after_seconds:
                raise Conflict(
                    "A reindex is already running on another replica; "
                    "try again when it has finished"
                )
            log.warning("search.reindex.stale_rebuild_cleared", index=index, age_s=round(age))
            await self.index.delete_index(index)

    async def _abandon(self, index: str) -> None:
        with contextlib.suppress(Exception):
            await self.index.delete_index(index)
        log.warning("search.reindex.abandoned", index=index)

    async def _load_catalog(self, index: str) -> dict[str, int]:
        page_size = self.settings.reindex_page_size
        read = indexed = stale = invalid = passes = 0
        while True:
            passes += 1
            first_total: int | None = None
            last_total = 0
            for page_number in range(1, MAX_PAGES_PER_PASS + 1):
                page = await self.catalog.list_page(page_number, page_size)
                first_total = page.total if first_total is None else first_total
                last_total = page.total
                documents = []
                for raw in page.products:
                    read += 1
                    product = _valid_product(raw)
                    if product is None or product.version is None:
                        invalid += 1
                        continue
                    documents.append(
                        (product.id, product_document(product, product.version), product.version)
                    )
                outcome = await self.index.bulk_write(index, documents)
                indexed += outcome.written
                stale += outcome.stale
                invalid += outcome.failed
                if not page.products or page_number * page_size >= page.total:
                    break
            # Offset paging skips a product when an earlier one is deleted mid-pass; a changed
            # catalog size is the sign, and another pass (external versions) is harmless.
            if first_total == last_total or passes >= self.settings.reindex_max_passes:
                break
            log.info("search.reindex.catalog_changed", first=first_total, last=last_total)
        return {
            "products_read": read,
            "indexed": indexed,
            "stale_skipped": stale,
            "invalid_skipped": invalid,
            "passes": passes,
        }


def _valid_product(raw: Any) -> CatalogProduct | None:
    try:
        return CatalogProduct.model_validate(raw)
    except ValidationError as exc:
        log.warning("search.reindex.product_invalid", error=str(exc)[:300])
        return None
