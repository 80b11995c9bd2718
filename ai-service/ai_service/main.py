"""ai-service: wiring only. `uvicorn ai_service.main:app --port 8005`."""

import uuid

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from redis.asyncio import Redis

from ai_service.api import router
from ai_service.catalog import CatalogIndex, Relevance
from ai_service.clients.products import CatalogLoader, catalog_reader
from ai_service.config import Settings
from ai_service.copurchase import CoPurchases
from ai_service.embeddings import MODEL_ID
from ai_service.events import FollowUpWriter, apply_product_event
from ai_service.indexer import EmbeddingIndexer, VectorCache
from ai_service.llm.factory import build_chat
from ai_service.repository import ProcessedEvents
from ai_service.service import AssistantService
from chassis import create_app
from chassis.events import CloudEvent
from chassis.kafka import FETCHER_IDLE_TIMEOUT_MS, EventConsumer, EventProducer
from chassis.lifecycle import Components


def relevance_rules(settings: Settings) -> Relevance:
    return Relevance(
        lexical_weight=settings.retrieval_lexical_weight,
        threshold=settings.retrieval_relevance_threshold,
        support=settings.retrieval_relevance_support,
        distinct=settings.retrieval_relevance_distinct,
        margin=settings.retrieval_relevance_margin,
    )


def build_app(
    settings: Settings,
    *,
    llm_transport: httpx.AsyncBaseTransport | None = None,
    products_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        catalog = CatalogIndex(relevance=relevance_rules(settings))
        chat = build_chat(settings, llm_transport)
        redis = Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        processed = ProcessedEvents(
            redis,
            prefix=settings.redis_key_prefix,
            ttl_seconds=settings.processed_event_ttl_seconds,
        )
        # Only Redis is a readiness check: without product-service the service still answers
        # (from what events brought, or saying the catalog is not loaded);
        # ai_catalog_products shows the size.
        components.add("redis", stop=redis.aclose, ready=processed.ping)
        if chat is not None:
            components.add("llm", stop=chat.close)
        indexer = None
        if settings.retrieval_mode == "hybrid":
            cache = VectorCache(
                redis,
                prefix=settings.redis_key_prefix,
                model_id=MODEL_ID,
                ttl_seconds=settings.embedding_cache_ttl_seconds,
            )
            indexer = EmbeddingIndexer(
                catalog,
                cache,
                batch_size=settings.embedding_batch_size,
                threads=settings.embedding_threads,
            )
        copurchases = CoPurchases(
            redis,
            prefix=settings.redis_key_prefix,
            dedup_ttl_seconds=settings.processed_event_ttl_seconds,
        )
        assistant = AssistantService(
            catalog, chat, settings, indexer=indexer, copurchases=copurchases
        )
        products = catalog_reader(
            settings.product_service_url,
            timeout_seconds=settings.http_timeout_seconds,
            breaker_failure_threshold=settings.product_service_breaker_failure_threshold,
            breaker_reset_seconds=settings.product_service_breaker_reset_seconds,
            transport=products_transport,
        )
        components.add("product-catalog", stop=products.aclose)
        loader = CatalogLoader(
            products,
            catalog,
            page_size=settings.catalog_page_size,
            backoff_max_seconds=settings.catalog_load_backoff_max_seconds,
        )
        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        writer = FollowUpWriter(
            assistant,
            producer,
            topic=settings.topic_ai_notification_ready,
            source=settings.service_name,
        )
        # Redis outages are in the chassis registry (chassis.dependencies); a follow-up that
        # the broker refused is retried rather than parked, whatever the Kafka error.
        transient = (KafkaError,)
        # One follow-up per order across replicas: a shared group, deduplicated in Redis.
        orders = EventConsumer.from_settings(
            settings,
            [settings.topic_order_placed],
            writer.handle,
            producer_for_dlq=producer,
            idempotency=processed,
            transient_errors=transient,
        )
        # The index is per process, so every replica reads every product event: a group of
        # its own, from the earliest offset (versions make replays harmless).
        catalog_group = f"{settings.consumer_group}-catalog-{uuid.uuid4().hex[:12]}"

        async def on_product_event(event: CloudEvent) -> None:
            apply_product_event(catalog, event)

        catalog_events = EventConsumer(
            settings.kafka_bootstrap_servers,
            catalog_group,
            [settings.topic_product_updated],
            on_product_event,
            producer_for_dlq=producer,
            transient_errors=transient,
            idle_pause_ms=settings.kafka_consumer_idle_pause_ms,
            consumer_factory=lambda: AIOKafkaConsumer(
                settings.topic_product_updated,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=catalog_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                consumer_timeout_ms=FETCHER_IDLE_TIMEOUT_MS,
            ),
        )
        app.state.assistant = assistant
        app.state.catalog = catalog
        app.state.indexer = indexer
        if indexer is not None:
            components.add_worker("embedding-indexer", indexer)
        components.add_worker("catalog-events", catalog_events, enabled=settings.run_event_consumer)
        components.add_worker("order-events", orders, enabled=settings.run_event_consumer)
        components.add_worker("catalog-loader", loader, enabled=settings.run_catalog_loader)

    app = create_app(
        settings,
        title="ai-service",
        description="Shopping assistant, recommendations and natural-language search grounded "
        f"in the catalog. LLM provider: {settings.llm_provider}.",
        setup=setup,
        health_details={"llm_provider": settings.llm_provider},
    )
    app.include_router(router)
    return app


app = build_app(Settings())
