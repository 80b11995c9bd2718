"""notification-service: wiring only. `uvicorn notification_service.main:app --port 8004`."""

from fastapi import FastAPI
from redis.asyncio import Redis

from chassis import create_app
from chassis.kafka import EventConsumer, EventProducer
from chassis.lifecycle import Components
from notification_service.api import router
from notification_service.config import Settings
from notification_service.mailer import SmtpMailer
from notification_service.rendering import EmailRenderer
from notification_service.repository import DeliveryLedger
from notification_service.service import DeliveryInProgress, NotificationService


def build_app(settings: Settings) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        redis = Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        ledger = DeliveryLedger(
            redis,
            prefix=settings.redis_key_prefix,
            lease_seconds=settings.delivery_lease_seconds,
            sent_ttl_seconds=settings.sent_ttl_seconds,
            log_size=settings.notification_log_size,
            owner=settings.consumer_instance_id,
        )
        components.add("redis", stop=redis.aclose, ready=ledger.ping)
        mailer = SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.mail_from,
            timeout_seconds=settings.smtp_timeout_seconds,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            use_tls=settings.smtp_use_tls,
            enabled=settings.email_enabled,
        )
        components.add("smtp", stop=mailer.aclose, ready=mailer.ping)
        service = NotificationService(ledger, mailer, EmailRenderer(), settings)
        app.state.notifications = service
        app.state.ledger = ledger

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        consumer = EventConsumer.from_settings(
            settings,
            [
                settings.topic_order_placed,
                settings.topic_order_cancelled,
                settings.topic_inventory_low,
                settings.topic_ai_notification_ready,
            ],
            service.handle_event,
            producer_for_dlq=producer,
            # No idempotency hook: the handler's claim is the ledger check (it fails for an
            # event sent already), so a first delivery costs no extra Redis GET before it.
            # Redis or the SMTP relay away, or another consumer mid-send: pause and re-read,
            # never send without the ledger and never dead-letter for it.
            # (Redis and SMTP outages are in the chassis registry, chassis.dependencies.)
            transient_errors=(DeliveryInProgress,),
        )
        components.add_worker("consumer", consumer, enabled=settings.run_event_consumer)

    app = create_app(
        settings,
        title="notification-service",
        description="Order, cancellation, low-stock and AI follow-up emails over SMTP, "
        "sent once per event.",
        setup=setup,
    )
    app.include_router(router)
    return app


app = build_app(Settings())
