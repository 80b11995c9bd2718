"""Keeps the catalog's vectors current: whenever products change (start-up load,
`product-updated`), the products whose text has no vector are embedded in batches, in a worker
thread (never on the event loop). Vectors are cached in Redis by model and text, so a restart
(or another replica) re-embeds only what it has never seen; `python -m ai_service.rebuild_index`
recomputes them all.

Query vectors are computed in their own worker threads, so a shopper's query never waits
behind an indexing batch. Until the model is loaded, or if it cannot be, search is BM25 alone."""

import asyncio
import base64
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import structlog
from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ai_service.catalog import CatalogIndex, Product
from ai_service.embeddings import DIMENSION, Embedder, EmbedderUnavailable, Vectors, load_embedder
from chassis.lifecycle import BackgroundTask
from chassis.memory import release_free_memory

log = structlog.get_logger(__name__)

EMBEDDINGS = Counter("ai_embeddings_total", "Product vectors by source", ["source"])
EMBEDDER_READY = Gauge("ai_embedder_ready", "1 when the sentence-embedding model is loaded")
QUERY_EMBED_SECONDS = Histogram(
    "ai_query_embedding_seconds",
    "Embedding one shopper query (in its worker thread)",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)


class VectorCache:
    """Redis: `<prefix>:emb:<model id>:<text key>` -> the float32 vector, base64."""

    def __init__(self, redis: Redis, *, prefix: str, model_id: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.pattern_prefix = f"{prefix}:emb:{model_id}:"
        self.ttl_seconds = ttl_seconds

    def _key(self, text_key: str) -> str:
        return self.pattern_prefix + text_key

    async def get_many(self, text_keys: Sequence[str]) -> dict[str, Vectors]:
        if not text_keys:
            return {}
        values = await self.redis.mget([self._key(k) for k in text_keys])
        found: dict[str, Vectors] = {}
        for text_key, value in zip(text_keys, values, strict=True):
            if not value:
                continue
            vector = np.frombuffer(base64.b64decode(value), dtype=np.float32)
            if vector.shape == (DIMENSION,):
                found[text_key] = vector
        return found

    async def put_many(self, vectors: dict[str, Vectors]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for text_key, vector in vectors.items():
                pipe.set(
                    self._key(text_key),
                    base64.b64encode(vector.astype(np.float32).tobytes()).decode(),
                    ex=self.ttl_seconds,
                )
            await pipe.execute()

    async def clear(self) -> int:
        removed = 0
        async for key in self.redis.scan_iter(match=self.pattern_prefix + "*", count=500):
            removed += int(await self.redis.unlink(key))
        return removed


class EmbeddingIndexer:
    def __init__(
        self,
        catalog: CatalogIndex,
        cache: VectorCache | None,
        *,
        batch_size: int = 32,
        threads: int = 1,
        embedder: Embedder | None = None,
    ) -> None:
        self.catalog = catalog
        self.cache = cache
        self.batch_size = batch_size
        self.threads = threads
        self.embedder = embedder
        self.computed = 0
        self.cached = 0
        self._index_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-index")
        self._query_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed-query")
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._background = BackgroundTask("embedding-indexer", self._run)
        catalog.on_change = self.notify

    @property
    def ready(self) -> bool:
        return self.embedder is not None

    def notify(self) -> None:
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()
        self._index_pool.shutdown(wait=False, cancel_futures=True)
        self._query_pool.shutdown(wait=False, cancel_futures=True)

    async def wait_idle(self) -> None:
        """Returns once every product has its vector (tests, benchmarks); callers bound it
        with asyncio.timeout."""
        await self._idle.wait()

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            self.embedder = await loop.run_in_executor(
                self._index_pool, load_embedder, self.threads
            )
        except (EmbedderUnavailable, OSError, RuntimeError) as exc:
            log.error("embeddings.unavailable", error=str(exc), using="bm25 only")
            return
        EMBEDDER_READY.set(1)
        log.info(
            "embeddings.model_loaded",
            model=self.embedder.model_id,
            seconds=round(time.perf_counter() - started, 2),
        )

    async def _run(self) -> None:
        if self.embedder is None:
            await self._load()
        if self.embedder is None:
            return
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending = self.catalog.unembedded()
            while pending:
                batch, pending = pending[: self.batch_size], pending[self.batch_size :]
                await self.index(batch)
                if self._wake.is_set():
                    break  # the catalog changed meanwhile: look again
            if not self._wake.is_set() and not self.catalog.unembedded():
                # The batches' scratch memory back to the system, off the event loop.
                await asyncio.get_running_loop().run_in_executor(
                    self._index_pool, release_free_memory
                )
                self._idle.set()
                log.info(
                    "embeddings.current",
                    products=len(self.catalog),
                    computed=self.computed,
                    from_cache=self.cached,
                )

    async def index(self, products: Sequence[Product], *, use_cache: bool = True) -> int:
        """Vectors for `products`: from the cache where it has them, else computed in the
        worker thread (and written to the cache). Returns how many were computed."""
        if self.embedder is None or not products:
            return 0
        keyed = {p.text_key(): p for p in products}
        found: dict[str, Vectors] = {}
        if use_cache and self.cache is not None:
            try:
                found = await self.cache.get_many(list(keyed))
            except RedisError as exc:
                log.warning("embeddings.cache_unavailable", error=str(exc))
        missing = [k for k in keyed if k not in found]
        if missing:
            texts = [keyed[k].embedding_text() for k in missing]
            loop = asyncio.get_running_loop()
            vectors = await loop.run_in_executor(self._index_pool, self.embedder.embed, texts)
            computed = dict(zip(missing, vectors, strict=True))
            if self.cache is not None:
                try:
                    await self.cache.put_many(computed)
                except RedisError as exc:
                    log.warning("embeddings.cache_unavailable", error=str(exc))
            found.update(computed)
        for text_key, vector in found.items():
            self.catalog.set_vector(keyed[text_key].id, text_key, vector)
        self.computed += len(missing)
        self.cached += len(found) - len(missing)
        EMBEDDINGS.labels("computed").inc(len(missing))
        EMBEDDINGS.labels("cache").inc(len(found) - len(missing))
        return len(missing)

    async def embed_query(self, text: str) -> Vectors | None:
        """The query's unit vector, or None (model not loaded: the caller ranks by BM25)."""
        embedder = self.embedder
        if embedder is None or not text.strip():
            return None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        vectors = await loop.run_in_executor(self._query_pool, embedder.embed, [text])
        QUERY_EMBED_SECONDS.observe(time.perf_counter() - started)
        vector: Vectors = vectors[0]
        return vector
