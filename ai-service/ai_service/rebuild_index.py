"""Full rebuild of the vector cache: `python -m ai_service.rebuild_index`.

Drops every cached vector of the current model from Redis, loads the whole catalog from
product-service (PRODUCT_SERVICE_URL, every page), embeds every product again in batches and
writes the vectors back. Running ai-service processes keep answering meanwhile; a process that
starts afterwards finds every vector in the cache and embeds nothing. Reads the same
environment as the service (REDIS_URL, REDIS_KEY_PREFIX, EMBEDDING_BATCH_SIZE, ...)."""

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ai_service.catalog import CatalogIndex, Product
from ai_service.clients.products import CatalogUnavailable, catalog_reader
from ai_service.config import Settings
from ai_service.embeddings import MODEL_ID, EmbedderUnavailable, load_embedder
from ai_service.indexer import EmbeddingIndexer, VectorCache


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def rebuild(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Callable[[str], None] = _stderr,
) -> dict[str, Any]:
    started = time.perf_counter()
    redis = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    products = catalog_reader(
        settings.product_service_url,
        timeout_seconds=settings.http_timeout_seconds,
        transport=transport,
    )
    try:
        progress(f"loading the catalog from {settings.product_service_url}")
        documents = await products.fetch_all(settings.catalog_page_size)
        catalog = CatalogIndex()
        for document in documents:
            try:
                catalog.upsert(Product.from_document(document))
            except (ValueError, TypeError, ArithmeticError) as exc:
                progress(f"skipped product {document.get('id')}: {exc}")
        progress(f"{len(catalog)} products; loading the embedding model {MODEL_ID}")
        embedder = await asyncio.to_thread(load_embedder, settings.embedding_threads)
        cache = VectorCache(
            redis,
            prefix=settings.redis_key_prefix,
            model_id=MODEL_ID,
            ttl_seconds=settings.embedding_cache_ttl_seconds,
        )
        removed = await cache.clear()
        progress(f"dropped {removed} cached vectors")
        indexer = EmbeddingIndexer(
            catalog,
            cache,
            batch_size=settings.embedding_batch_size,
            threads=settings.embedding_threads,
            embedder=embedder,
        )
        pending = list(catalog.products.values())
        embedded = 0
        try:
            for start in range(0, len(pending), settings.embedding_batch_size):
                batch = pending[start : start + settings.embedding_batch_size]
                embedded += await indexer.index(batch, use_cache=False)
                progress(f"embedded {embedded}/{len(pending)}")
        finally:
            await indexer.stop()
        return {
            "products": len(catalog),
            "embedded": embedded,
            "removed": removed,
            "model": MODEL_ID,
            "seconds": round(time.perf_counter() - started, 2),
        }
    finally:
        await products.aclose()
        await redis.aclose()


def main() -> int:
    try:
        summary = asyncio.run(rebuild(Settings()))
    except (CatalogUnavailable, EmbedderUnavailable, RedisError, OSError) as exc:
        _stderr(f"rebuild failed: {exc}")
        return 1
    print(" ".join(f"{key}={value}" for key, value in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
