"""inventory-service: stock levels and reservations."""
