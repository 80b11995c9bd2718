"""The search index: its settings and mapping, and the document a product becomes in it.

A deleted product stays in the index as a tombstone (`deleted: true`) carrying the delete's
version, so a late upsert with an older version is refused by Elasticsearch's external
versioning forever, not only for the few seconds a real delete's version is remembered.
Every query filters tombstones out.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from contracts import ProductSnapshot

OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
# Elasticsearch external versions must fit a signed 64-bit long.
MAX_VERSION = 2**62
# A word longer than this is matched by its first MAX_PREFIX characters in autocomplete.
MAX_PREFIX = 20

ProductId = Annotated[str, StringConstraints(pattern=OBJECT_ID_PATTERN)]


class CatalogProduct(ProductSnapshot):
    """A product as product-service publishes it (the contract's snapshot, in events and the
    list endpoint alike), with the bounds the index needs on top."""

    model_config = ConfigDict(extra="ignore")

    id: ProductId
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    price: Decimal = Field(ge=0, le=Decimal("1e12"), allow_inf_nan=False)
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]] = Field(
        default_factory=list, max_length=200
    )
    version: int | None = Field(default=None, ge=0, le=MAX_VERSION)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def product_document(product: CatalogProduct, version: int) -> dict[str, Any]:
    tags = [tag for tag in product.tags if tag]
    return {
        "product_id": product.id,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        # Filters match case-insensitively on these; facets show the names as written.
        "category_key": product.category.lower(),
        "tags": tags,
        "tag_keys": sorted({tag.lower() for tag in tags}),
        "price": float(product.price.quantize(Decimal("0.01"))),
        "stock_quantity": product.stock_quantity,
        "image_url": product.image_url,
        "created_at": _iso(product.created_at),
        "updated_at": _iso(product.updated_at),
        "version": version,
        "deleted": False,
    }


def tombstone_document(product_id: str, version: int) -> dict[str, Any]:
    return {"product_id": product_id, "version": version, "deleted": True}


def index_body(shards: int, replicas: int, refresh_interval: str) -> dict[str, Any]:
    """Settings and mapping of one concrete products index."""
    text = {"type": "text", "analyzer": "product_text"}
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "refresh_interval": refresh_interval,
            "analysis": {
                "filter": {
                    "english_stemmer": {"type": "stemmer", "language": "english"},
                    "prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": MAX_PREFIX},
                    "prefix_length": {"type": "truncate", "length": MAX_PREFIX},
                },
                "analyzer": {
                    "product_text": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding", "english_stemmer"],
                    },
                    "autocomplete_index": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding", "prefixes"],
                    },
                    "autocomplete_search": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding", "prefix_length"],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "product_id": {"type": "keyword"},
                "name": {
                    **text,
                    "fields": {
                        "autocomplete": {
                            "type": "text",
                            "analyzer": "autocomplete_index",
                            "search_analyzer": "autocomplete_search",
                        },
                        "raw": {"type": "keyword", "ignore_above": 512},
                    },
                },
                "description": text,
                "category": {"type": "keyword"},
                "category_key": {"type": "keyword"},
                "tags": {"type": "keyword", "fields": {"text": text}},
                "tag_keys": {"type": "keyword"},
                "price": {"type": "scaled_float", "scaling_factor": 100},
                "stock_quantity": {"type": "long"},
                "image_url": {"type": "keyword", "index": False},
                "created_at": {"type": "date"},
                "updated_at": {"type": "date"},
                "version": {"type": "long"},
                "deleted": {"type": "boolean"},
            },
        },
    }
