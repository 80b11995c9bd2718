"""The in-memory catalog index: products by id (newest version wins) and a BM25 ranking
over name, tags, category and description. Rebuilt lazily after changes."""

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import Gauge

CATALOG_PRODUCTS = Gauge("ai_catalog_products", "Products in the in-memory catalog index")

_STOPWORD_TEXT = (
    "a an and any are as at be best buy can could do for from get give good have i im in is it "
    "its looking me my need of on or please recommend show some something that the them there "
    "these this to up want what which with would you your new one ones"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
TOKEN = re.compile(r"[a-z0-9]+")
# Field weights: a word in the name says more about a product than one in its description.
NAME_WEIGHT, TAG_WEIGHT, CATEGORY_WEIGHT, DESCRIPTION_WEIGHT = 3, 2, 2, 1


def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: Decimal
    description: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    stock_quantity: int = 0
    image_url: str | None = None
    version: int = 0

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], version: int | None = None) -> "Product":
        """From product-service's JSON (REST listing or a product-updated event)."""
        try:
            price = Decimal(str(doc.get("price", "0")))
        except InvalidOperation:
            price = Decimal("0")
        tags = doc.get("tags") or []
        return cls(
            id=str(doc.get("id") or doc.get("_id") or doc.get("product_id")),
            name=str(doc.get("name", "")),
            price=price.quantize(Decimal("0.01")) if price.is_finite() else Decimal("0"),
            description=str(doc.get("description") or ""),
            category=str(doc.get("category") or ""),
            tags=tuple(str(t) for t in tags if t) if isinstance(tags, list) else (),
            stock_quantity=int(doc.get("stock_quantity") or 0),
            image_url=doc.get("image_url"),
            version=int(version if version is not None else doc.get("version") or 0),
        )

    def weighted_tokens(self) -> list[str]:
        return (
            tokenize(self.name) * NAME_WEIGHT
            + tokenize(" ".join(self.tags)) * TAG_WEIGHT
            + tokenize(self.category) * CATEGORY_WEIGHT
            + tokenize(self.description) * DESCRIPTION_WEIGHT
        )


class BM25:
    """Okapi BM25 (k1 1.5, b 0.75) with the non-negative idf variant."""

    def __init__(self, documents: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.frequencies = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average_length = (sum(self.lengths) / len(documents)) if documents else 0.0
        containing: Counter[str] = Counter()
        for frequency in self.frequencies:
            containing.update(frequency.keys())
        n = len(documents)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in containing.items()}

    def scores(self, query: Iterable[str]) -> list[float]:
        terms = [t for t in set(query) if t in self.idf]
        result = []
        for frequency, length in zip(self.frequencies, self.lengths, strict=True):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / (self.average_length or 1))
            for term in terms:
                tf = frequency.get(term, 0)
                if tf:
                    score += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            result.append(score)
        return result


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    matched: tuple[str, ...] = ()


@dataclass
class CatalogIndex:
    products: dict[str, Product] = field(default_factory=dict)
    # Highest version seen per id, deletions included, so an old upsert cannot resurrect.
    versions: dict[str, int] = field(default_factory=dict)
    _order: list[str] = field(default_factory=list)
    _bm25: BM25 | None = None
    loaded: bool = False

    def __len__(self) -> int:
        return len(self.products)

    def upsert(self, product: Product) -> bool:
        """False (ignored) when an equal or newer version is already known."""
        known = self.versions.get(product.id)
        if known is not None and product.version <= known and product.id in self.products:
            return False
        if known is not None and product.version < known:
            return False
        self.versions[product.id] = product.version
        self.products[product.id] = product
        self._bm25 = None
        CATALOG_PRODUCTS.set(len(self.products))
        return True

    def delete(self, product_id: str, version: int) -> bool:
        if version < self.versions.get(product_id, -1):
            return False
        self.versions[product_id] = version
        self._bm25 = None
        removed = self.products.pop(product_id, None) is not None
        CATALOG_PRODUCTS.set(len(self.products))
        return removed

    def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def categories(self) -> set[str]:
        return {p.category for p in self.products.values() if p.category}

    def tags(self) -> set[str]:
        return {t for p in self.products.values() for t in p.tags}

    def find_by_name(self, name: str) -> Product | None:
        wanted = name.strip().lower()
        for product in self.products.values():
            if product.name.lower() == wanted:
                return product
        hits = self.search(name, limit=1)
        return hits[0].product if hits and hits[0].score > 0 else None

    def _index(self) -> BM25:
        if self._bm25 is None:
            self._order = list(self.products)
            self._bm25 = BM25([self.products[i].weighted_tokens() for i in self._order])
        return self._bm25

    def search(
        self,
        query: str,
        *,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        category: str | None = None,
        exclude: Iterable[str] = (),
        limit: int = 8,
        require_match: bool = False,
    ) -> list[Hit]:
        """Best matches first. Without any matching word, products within the filters come
        back by stock then price (highest first: the most you can get within a budget),
        unless `require_match`."""
        bm25 = self._index()
        terms = tokenize(query)
        scores = bm25.scores(terms)
        excluded = set(exclude)
        hits = []
        for product_id, score in zip(self._order, scores, strict=True):
            product = self.products[product_id]
            if product_id in excluded:
                continue
            if min_price is not None and product.price < min_price:
                continue
            if max_price is not None and product.price > max_price:
                continue
            if category and product.category.lower() != category.lower():
                continue
            if require_match and score <= 0:
                continue
            if product.stock_quantity <= 0:
                score *= 0.5  # still findable, but what can be bought ranks first
            words = set(product.weighted_tokens())
            hits.append(Hit(product, score, tuple(t for t in dict.fromkeys(terms) if t in words)))
        if any(h.score > 0 for h in hits):
            # Some products match the words: the ones that match nothing are not answers.
            hits = [h for h in hits if h.score > 0]
        hits.sort(key=lambda h: (-h.score, h.product.stock_quantity <= 0, -h.product.price,
                                 h.product.name))
        return hits[:limit]

    def related(self, product: Product, limit: int = 5) -> list[Hit]:
        """Same category or shared tags first, then words in common."""
        query = " ".join([product.name, product.category, *product.tags])
        hits = self.search(query, exclude=[product.id], limit=max(limit * 4, 20))
        own_tags = {t.lower() for t in product.tags}

        def closeness(hit: Hit) -> tuple[int, float]:
            other = hit.product
            shared = len(own_tags & {t.lower() for t in other.tags})
            same_category = int(bool(product.category) and other.category == product.category)
            return (same_category * 2 + shared, hit.score)

        hits.sort(key=closeness, reverse=True)
        return hits[:limit]
