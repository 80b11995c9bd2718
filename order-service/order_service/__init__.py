"""order-service: orders, the reservation saga with inventory-service, order events."""
