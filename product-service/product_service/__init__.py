"""product-service: the product catalog."""
