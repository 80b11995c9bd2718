"""Every Elasticsearch request of search-service lives here, and every reading of its replies:
queries return hits, totals, suggestions and facet counts, never the raw reply.

Connection failures, timeouts and Elasticsearch's own 429/5xx answers become
`SearchUnavailable` (503 on the HTTP side, "pause and retry" for the event consumer);
anything else Elasticsearch refuses propagates as the client's error.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    ConflictError,
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
)

from chassis import DependencyUnavailable
from search_service.models import index_body
from search_service.schemas import CategoryFacet, SearchHit, Suggestion

log = structlog.get_logger(__name__)

UNAVAILABLE_DETAIL = (
    "Search is temporarily unavailable: the search engine (Elasticsearch) did not answer. "
    "Please try again in a moment."
)
DELETED = {"term": {"deleted": True}}
TEXT_FIELDS = ["name^3", "tags.text^2", "description"]
# Fixed price buckets for the facet: [from, to), None = unbounded.
PRICE_RANGES: tuple[tuple[str, float | None, float | None], ...] = (
    ("0-25", None, 25),
    ("25-50", 25, 50),
    ("50-100", 50, 100),
    ("100-250", 100, 250),
    ("250-500", 250, 500),
    ("500-1000", 500, 1000),
    ("1000+", 1000, None),
)
MAX_CATEGORY_FACETS = 100


class SearchUnavailable(DependencyUnavailable):
    """Elasticsearch is down, overloaded or too slow."""

    def __init__(self, detail: str = UNAVAILABLE_DETAIL) -> None:
        super().__init__(detail)


class AliasMissing(Exception):
    """A write named an alias that does not exist (any more)."""


@contextmanager
def elasticsearch_call() -> Iterator[None]:
    try:
        yield
    except (ConnectionError, ConnectionTimeout, TimeoutError) as exc:
        raise SearchUnavailable() from exc
    except ApiError as exc:
        if exc.meta.status == 429 or exc.meta.status >= 500:
            raise SearchUnavailable() from exc
        raise


@dataclass(frozen=True)
class BulkOutcome:
    written: int
    stale: int
    failed: int


@dataclass(frozen=True)
class FilterQuery:
    category_key: str | None
    min_price: float | None
    max_price: float | None
    tag_keys: Sequence[str]


@dataclass(frozen=True)
class HitPage:
    """One page of hits and the number of hits in all."""

    total: int
    hits: list[SearchHit]


@dataclass(frozen=True)
class FacetedHitPage(HitPage):
    """A filtered page, with the counts of all filtered hits per category and per price range
    (`PRICE_RANGES` keys; a range without hits may be missing)."""

    categories: list[CategoryFacet]
    price_range_counts: dict[str, int]


def _hit(raw: dict[str, Any], ranked: bool) -> SearchHit:
    source = raw.get("_source") or {}
    highlight = raw.get("highlight") or {}
    return SearchHit(
        id=source.get("product_id") or raw["_id"],
        name=source.get("name", ""),
        description=source.get("description", ""),
        price=round(float(source.get("price", 0)), 2),
        category=source.get("category", ""),
        tags=list(source.get("tags") or []),
        stock_quantity=source.get("stock_quantity"),
        image_url=source.get("image_url"),
        score=raw.get("_score") if ranked else None,
        # Fragments come back per field; "tags.text" is reported as "tags".
        highlight={
            field.removesuffix(".text"): [str(f) for f in fragments]
            for field, fragments in highlight.items()
        },
    )


def _total(reply: dict[str, Any]) -> int:
    total = reply.get("hits", {}).get("total", 0)
    return int(total["value"] if isinstance(total, dict) else total)


def _hits(reply: dict[str, Any], ranked: bool) -> list[SearchHit]:
    return [_hit(raw, ranked) for raw in reply["hits"]["hits"]]


class ProductIndex:
    """The products alias, the concrete indices behind it, and the queries on them."""

    def __init__(
        self,
        es: AsyncElasticsearch,
        alias: str,
        *,
        shards: int = 1,
        replicas: int = 0,
        refresh_interval: str = "1s",
    ) -> None:
        self.es = es
        self.alias = alias
        # Points at the index a running rebuild fills; every replica's consumer writes there too.
        self.rebuild_alias = f"{alias}-rebuilding"
        self._body = index_body(shards, replicas, refresh_interval)

    # -- indices and aliases -------------------------------------------------------------

    def new_index_name(self) -> str:
        return f"{self.alias}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"

    async def ping(self) -> None:
        with elasticsearch_call():
            await self.es.cluster.health()

    async def ensure_alias(self) -> list[str]:
        """The concrete indices behind the alias, creating the first index if it has none."""
        current = await self.indices_of(self.alias)
        if current:
            return current
        # A fixed name: replicas starting together create one index, never two behind the alias.
        first = f"{self.alias}-initial"
        with elasticsearch_call():
            exists = await self.es.indices.exists(index=first)
            if not exists:
                try:
                    await self.es.indices.create(
                        index=first, aliases={self.alias: {}}, **self._body
                    )
                    log.info("search.index.created", index=first, alias=self.alias)
                    return [first]
                except ApiError as exc:
                    if exc.meta.status != 400 or "already_exists" not in str(exc):
                        raise
            await self.es.indices.put_alias(index=first, name=self.alias)
        return [first]

    async def indices_of(self, alias: str) -> list[str]:
        with elasticsearch_call():
            reply = await self.es.options(ignore_status=404).indices.get_alias(name=alias)
        if reply.meta.status == 404:
            return []
        return sorted(name for name in reply.body if isinstance(reply.body.get(name), dict))

    async def create_index(self, name: str) -> None:
        with elasticsearch_call():
            await self.es.indices.create(index=name, **self._body)
        log.info("search.index.created", index=name)

    async def created_at(self, name: str) -> datetime | None:
        with elasticsearch_call():
            reply = await self.es.options(ignore_status=404).indices.get_settings(index=name)
        try:
            millis = int(reply.body[name]["settings"]["index"]["creation_date"])
        except (KeyError, TypeError, ValueError):
            return None
        return datetime.fromtimestamp(millis / 1000, UTC)

    async def mark_rebuilding(self, name: str) -> None:
        with elasticsearch_call():
            await self.es.indices.put_alias(index=name, name=self.rebuild_alias)

    async def swap(self, new: str, old: Sequence[str]) -> None:
        """One atomic alias update: the alias leaves the old indices and lands on the new one,
        and the rebuild marker goes away in the same step."""
        actions: list[dict[str, Any]] = [
            {"remove": {"index": index, "alias": self.alias}} for index in old
        ]
        actions.append({"add": {"index": new, "alias": self.alias}})
        actions.append({"remove": {"index": new, "alias": self.rebuild_alias}})
        with elasticsearch_call():
            await self.es.indices.update_aliases(actions=actions)
        log.info("search.alias.swapped", alias=self.alias, new=new, old=list(old))

    async def delete_index(self, name: str) -> None:
        with elasticsearch_call():
            await self.es.options(ignore_status=404).indices.delete(index=name)
        log.info("search.index.deleted", index=name)

    # -- writes ----------------------------------------------------------------------------

    async def write(self, alias: str, doc_id: str, document: dict[str, Any], version: int) -> bool:
        """Write through `alias` with `version` as an external version. False when the index
        already holds this version or a newer one (a stale or repeated event)."""
        with elasticsearch_call():
            try:
                await self.es.index(
                    index=alias,
                    id=doc_id,
                    document=document,
                    version=version,
                    version_type="external",
                    # Never let a write to a vanished alias auto-create a concrete index.
                    require_alias=True,
                )
            except ConflictError:
                return False
            except NotFoundError as exc:
                raise AliasMissing(alias) from exc
        return True

    async def bulk_write(
        self, index: str, documents: Sequence[tuple[str, dict[str, Any], int]]
    ) -> BulkOutcome:
        if not documents:
            return BulkOutcome(0, 0, 0)
        operations: list[dict[str, Any]] = []
        for doc_id, document, version in documents:
            operations.append(
                {
                    "index": {
                        "_index": index,
                        "_id": doc_id,
                        "version": version,
                        "version_type": "external",
                    }
                }
            )
            operations.append(document)
        with elasticsearch_call():
            reply = await self.es.bulk(operations=operations)
        written = stale = failed = 0
        for item in reply.body.get("items", []):
            status = next(iter(item.values())).get("status", 500)
            if 200 <= status < 300:
                written += 1
            elif status == 409:
                stale += 1
            elif status == 429 or status >= 500:
                raise SearchUnavailable()
            else:
                failed += 1
                log.warning("search.bulk.item_refused", item=item)
        return BulkOutcome(written, stale, failed)

    # -- queries ---------------------------------------------------------------------------

    async def search(self, text: str, offset: int, size: int) -> HitPage:
        """Relevance-ranked hits for `text` (scored); without text, every product by name."""
        query: dict[str, Any]
        sort: list[Any] | None = None
        if text:
            query = {
                "multi_match": {
                    "query": text,
                    "fields": TEXT_FIELDS,
                    "fuzziness": "AUTO",
                    "type": "best_fields",
                }
            }
        else:
            query = {"match_all": {}}
            sort = [{"name.raw": "asc"}, {"product_id": "asc"}]
        body: dict[str, Any] = {
            "query": {"bool": {"must": [query], "must_not": [DELETED]}},
            "from_": offset,
            "size": size,
            "track_total_hits": True,
            "highlight": {
                "pre_tags": ["<em>"],
                "post_tags": ["</em>"],
                "fields": {
                    "name": {"number_of_fragments": 0},
                    "description": {"fragment_size": 150, "number_of_fragments": 3},
                    "tags.text": {"number_of_fragments": 0},
                },
            },
        }
        if sort:
            body["sort"] = sort
        with elasticsearch_call():
            reply = await self.es.search(index=self.alias, **body)
        found = dict(reply.body)
        return HitPage(total=_total(found), hits=_hits(found, ranked=bool(text)))

    async def autocomplete(self, prefix: str, limit: int) -> list[Suggestion]:
        with elasticsearch_call():
            reply = await self.es.search(
                index=self.alias,
                query={
                    "bool": {
                        "must": [
                            {"match": {"name.autocomplete": {"query": prefix, "operator": "and"}}}
                        ],
                        "must_not": [DELETED],
                    }
                },
                source_includes=["product_id", "name"],
                sort=[{"_score": "desc"}, {"name.raw": "asc"}],
                size=limit,
            )
        return [
            Suggestion(
                id=raw["_source"].get("product_id") or raw["_id"],
                name=raw["_source"].get("name", ""),
            )
            for raw in reply.body["hits"]["hits"]
        ]

    async def filter(self, filters: FilterQuery, offset: int, size: int) -> FacetedHitPage:
        """The products matching every filter, by name, with the facet counts."""
        clauses: list[dict[str, Any]] = []
        if filters.category_key is not None:
            clauses.append({"term": {"category_key": filters.category_key}})
        price: dict[str, float] = {}
        if filters.min_price is not None:
            price["gte"] = filters.min_price
        if filters.max_price is not None:
            price["lte"] = filters.max_price
        if price:
            clauses.append({"range": {"price": price}})
        clauses += [{"term": {"tag_keys": tag}} for tag in filters.tag_keys]
        ranges: list[dict[str, Any]] = []
        for key, low, high in PRICE_RANGES:
            bucket: dict[str, Any] = {"key": key}
            if low is not None:
                bucket["from"] = low
            if high is not None:
                bucket["to"] = high
            ranges.append(bucket)
        with elasticsearch_call():
            reply = await self.es.search(
                index=self.alias,
                query={"bool": {"filter": clauses, "must_not": [DELETED]}},
                sort=[{"name.raw": "asc"}, {"product_id": "asc"}],
                from_=offset,
                size=size,
                track_total_hits=True,
                aggs={
                    "categories": {"terms": {"field": "category", "size": MAX_CATEGORY_FACETS}},
                    "price_ranges": {"range": {"field": "price", "ranges": ranges}},
                },
            )
        found = dict(reply.body)
        aggs = found.get("aggregations", {})
        return FacetedHitPage(
            total=_total(found),
            hits=_hits(found, ranked=False),
            categories=[
                CategoryFacet(category=str(bucket["key"]), count=int(bucket["doc_count"]))
                for bucket in aggs.get("categories", {}).get("buckets", [])
            ],
            price_range_counts={
                str(bucket.get("key")): int(bucket.get("doc_count", 0))
                for bucket in aggs.get("price_ranges", {}).get("buckets", [])
            },
        )
