"""search-service: wiring only. `uvicorn search_service.main:app --port 8006`."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI

from chassis import create_app
from chassis.kafka import EventConsumer, EventProducer
from search_service.api import router
from search_service.clients.product_catalog import ProductCatalogClient
from search_service.config import Settings
from search_service.repository import ProductIndex, SearchUnavailable
from search_service.service import SearchService

log = structlog.get_logger(__name__)



def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        es = AsyncElasticsearch(
            settings.elasticsearch_url,
            request_timeout=settings.elasticsearch_timeout_seconds,
            max_retries=settings.elasticsearch_max_retries,
            retry_on_timeout=False,
        )
        index = ProductIndex(
            es,
            settings.search_index_alias,
            shards=settings.search_index_shards,
            replicas=settings.search_index_replicas,
            refresh_interval=settings.search_refresh_interval,
        )
        catalog = ProductCatalogClient(
            settings.product_service_url,
            timeout_seconds=settings.product_service_timeout_seconds,
            attempts=settings.reindex_page_attempts,
        )
        service = SearchService(index, catalog, settings)
        app.state.search = service
        try:
            # Elasticsearch being away must not stop the service: searches answer 503 and the
            # index is created on first use once it is back.
            async with asyncio.timeout(settings.elasticsearch_timeout_seconds + 1):
                await service.prepare_index()
        except (SearchUnavailable, TimeoutError) as exc:
            log.warning("search.index.not_prepared", error=str(exc))

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        consumer = EventConsumer(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            [settings.topic_product_updated],
            service.handle_product_event,
            producer_for_dlq=producer,
            max_attempts=settings.consumer_max_attempts,
            idle_pause_ms=settings.kafka_consumer_idle_pause_ms,
        )
        app.state.consumer = consumer
        if settings.run_event_consumer:
            await consumer.start()
        try:
            yield
        finally:
            if settings.run_event_consumer:
                await consumer.stop()
            await producer.stop()
            await catalog.aclose()
            await es.close()

    app = create_app(
        settings,
        title="search-service",
        description="Full-text product search, autocomplete and facets on Elasticsearch.",
        lifespan=lifespan,
        readiness_checks=lambda: {"elasticsearch": lambda: _ping(app)},
    )
    app.include_router(router)
    # One line per Elasticsearch request at INFO would drown the service's own events.
    logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    return app


async def _ping(app: FastAPI) -> None:
    service: SearchService = app.state.search
    await service.ping()


app = build_app(Settings())
