"""The fleet's Kafka topics and partition counts (docs/events.md). Each topic has a `.dlq`
with one partition: dead letters are rare and their order across keys does not matter."""

EVENT_TOPICS: dict[str, int] = {
    "order-placed": 6,
    "order-cancelled": 6,
    "order-status-changed": 6,
    "inventory-low": 3,
    "ai-notification-ready": 3,
    "product-updated": 6,
}

DLQ_PARTITIONS = 1

TOPICS: dict[str, int] = {
    **EVENT_TOPICS,
    **{f"{name}.dlq": DLQ_PARTITIONS for name in EVENT_TOPICS},
}
