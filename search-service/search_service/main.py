"""search-service: wiring only. `uvicorn search_service.main:app --port 8006`."""

import asyncio
import logging

import structlog
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI

from chassis import create_app
from chassis.kafka import EventConsumer, EventProducer
from chassis.lifecycle import Components
from chassis.product_catalog import ProductCatalogReader
from search_service.api import router
from search_service.config import Settings
from search_service.repository import ProductIndex, SearchUnavailable
from search_service.service import SearchService

log = structlog.get_logger(__name__)


def build_app(settings: Settings) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
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
        catalog = ProductCatalogReader(
            settings.product_service_url,
            timeout_seconds=settings.product_service_timeout_seconds,
            service=settings.service_name,
            attempts=settings.reindex_page_attempts,
        )
        service = SearchService(index, catalog, settings)
        app.state.search = service
        components.add("elasticsearch", stop=es.close, ready=service.ping)
        components.add("product-catalog", stop=catalog.aclose)
        try:
            # Elasticsearch being away must not stop the service: searches answer 503 and the
            # index is created on first use once it is back.
            async with asyncio.timeout(settings.elasticsearch_timeout_seconds + 1):
                await service.prepare_index()
        except (SearchUnavailable, TimeoutError) as exc:
            log.warning("search.index.not_prepared", error=str(exc))

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        consumer = EventConsumer.from_settings(
            settings,
            [settings.topic_product_updated],
            service.handle_product_event,
            producer_for_dlq=producer,
        )
        app.state.consumer = consumer
        components.add_worker("consumer", consumer, enabled=settings.run_event_consumer)

    app = create_app(
        settings,
        title="search-service",
        description="Full-text product search, autocomplete and facets on Elasticsearch.",
        setup=setup,
    )
    app.include_router(router)
    # One line per Elasticsearch request at INFO would drown the service's own events.
    logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    return app


app = build_app(Settings())
