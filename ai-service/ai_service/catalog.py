"""The in-memory catalog index: products by id (newest version wins), a BM25 ranking over
name, tags, category and description, and each product's sentence embedding. Search is hybrid
(cosine similarity fused with BM25) when the query has a vector, BM25 alone otherwise.
Rebuilt lazily after changes."""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from prometheus_client import Gauge

from ai_service.embeddings import DIMENSION

CATALOG_PRODUCTS = Gauge("ai_catalog_products", "Products in the in-memory catalog index")
EMBEDDED_PRODUCTS = Gauge(
    "ai_embedded_products", "Products whose current text has a vector in the index"
)

_STOPWORD_TEXT = (
    "a an and any are as at be best buy can could do for from get give good have i im in is it "
    "its looking me my need of on or please recommend show some something that the them there "
    "these this to up want what which with would you your new one ones"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
T = TypeVar("T")
# Remembered find_by_name / similar / related answers per index state (CatalogIndex._memo).
MEMO_LIMIT = 4096
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

    def embedding_text(self) -> str:
        """What the sentence embedding of the product is computed from."""
        return f"{self.name}. {self.category}. {', '.join(self.tags)}. {self.description}"

    def text_key(self) -> str:
        """Names the embedded text: a vector is reused only for exactly this text."""
        return self._text_key

    @cached_property
    def _text_key(self) -> str:
        return hashlib.sha256(self.embedding_text().encode()).hexdigest()[:32]

    def weighted_tokens(self) -> list[str]:
        return list(self._weighted_tokens)

    @cached_property
    def token_set(self) -> frozenset[str]:
        return frozenset(self._weighted_tokens)

    @cached_property
    def _weighted_tokens(self) -> tuple[str, ...]:
        # Tokenised once per product version (a frozen product never changes).
        return tuple(
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
    # Cosine similarity to the query (None: lexical ranking, or the product not embedded yet).
    similarity: float | None = None
    # Relevant enough to be offered as an answer; the rest are at best "closest alternatives".
    fits: bool = True


@dataclass(frozen=True)
class Relevance:
    """How the hybrid ranking fuses and judges. `score = cosine + lexical_weight * bm25 / best
    bm25 of the query`. A product fits when its cosine reaches `threshold`; or reaches
    `support` and either shares a word with the query or stands out from the catalog (its
    cosine `distinct` standard deviations above the mean of all products, with at least
    `distinct_min_products` embedded). Once the best product fits, those scoring within
    `margin` of it fit too (a shopper asking for a "present for a bookworm under $20" gets
    both books, not only the closest)."""

    lexical_weight: float = 0.3
    threshold: float = 0.3
    support: float = 0.2
    distinct: float = 2.6
    distinct_min_products: int = 10
    margin: float = 0.1
    out_of_stock_penalty: float = 0.1


@dataclass
class CatalogIndex:
    products: dict[str, Product] = field(default_factory=dict)
    # Highest version seen per id, deletions included, so an old upsert cannot resurrect.
    versions: dict[str, int] = field(default_factory=dict)
    # Unit vectors of each product's embedding_text(), with the text key they were made from.
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    vector_keys: dict[str, str] = field(default_factory=dict)
    relevance: Relevance = field(default_factory=Relevance)
    _order: list[str] = field(default_factory=list)
    _bm25: BM25 | None = None
    _matrix: npt.NDArray[np.float32] | None = None
    _embedded: npt.NDArray[np.bool_] | None = None
    loaded: bool = False
    # Called after every applied change (the embedding indexer listens).
    on_change: Callable[[], None] | None = None
    # Answers of find_by_name / similar / related, which depend on nothing but the index:
    # every follow-up email asks the same ones for the same products. Emptied by any change
    # (a product, a vector); bounded, emptied when full.
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.products)

    def _changed(self) -> None:
        self._bm25 = None
        self._matrix = None
        self._memo.clear()
        CATALOG_PRODUCTS.set(len(self.products))
        EMBEDDED_PRODUCTS.set(len(self.vectors))
        if self.on_change is not None:
            self.on_change()

    def upsert(self, product: Product) -> bool:
        """False (ignored) when an equal or newer version is already known."""
        known = self.versions.get(product.id)
        if known is not None and product.version <= known and product.id in self.products:
            return False
        if known is not None and product.version < known:
            return False
        self.versions[product.id] = product.version
        self.products[product.id] = product
        if self.vector_keys.get(product.id) != product.text_key():
            # The text changed: the old vector no longer describes it.
            self.vectors.pop(product.id, None)
            self.vector_keys.pop(product.id, None)
        self._changed()
        return True

    def delete(self, product_id: str, version: int) -> bool:
        if version < self.versions.get(product_id, -1):
            return False
        self.versions[product_id] = version
        removed = self.products.pop(product_id, None) is not None
        self.vectors.pop(product_id, None)
        self.vector_keys.pop(product_id, None)
        self._changed()
        return removed

    def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def categories(self) -> set[str]:
        return {p.category for p in self.products.values() if p.category}

    def tags(self) -> set[str]:
        return {t for p in self.products.values() for t in p.tags}

    # ---- vectors ----------------------------------------------------------------------------

    def unembedded(self) -> list[Product]:
        """Products whose current text has no vector yet."""
        return [p for p in self.products.values() if self.vector_keys.get(p.id) != p.text_key()]

    def set_vector(self, product_id: str, text_key: str, vector: npt.NDArray[np.float32]) -> bool:
        """Store a vector computed for `text_key`; False when the product has changed (or
        gone) since, so a slow batch can never attach an old text's vector."""
        product = self.products.get(product_id)
        if product is None or product.text_key() != text_key:
            return False
        self.vectors[product_id] = vector
        self.vector_keys[product_id] = text_key
        self._matrix = None
        self._memo.clear()
        EMBEDDED_PRODUCTS.set(len(self.vectors))
        return True

    @property
    def embedded_count(self) -> int:
        return len(self.vectors)

    def _index(self) -> BM25:
        if self._bm25 is None:
            self._order = list(self.products)
            self._bm25 = BM25([self.products[i].weighted_tokens() for i in self._order])
            self._matrix = None
        return self._bm25

    def _vectors(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        self._index()
        if self._matrix is None or self._embedded is None:
            matrix = np.zeros((len(self._order), DIMENSION), dtype=np.float32)
            embedded = np.zeros(len(self._order), dtype=bool)
            for row, product_id in enumerate(self._order):
                vector = self.vectors.get(product_id)
                if vector is not None:
                    matrix[row] = vector
                    embedded[row] = True
            self._matrix, self._embedded = matrix, embedded
        return self._matrix, self._embedded

    # ---- ranking ----------------------------------------------------------------------------

    def _remembered(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """The answer kept under `key` for the index as it stands, computed on first use."""
        if key in self._memo:
            return cast(T, self._memo[key])
        value = compute()
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = value
        return value

    def find_by_name(self, name: str) -> Product | None:
        return self._remembered(("name", name), lambda: self._find_by_name(name))

    def _find_by_name(self, name: str) -> Product | None:
        wanted = name.strip().lower()
        for product in self.products.values():
            if product.name.lower() == wanted:
                return product
        hits = self.search(name, limit=1, require_match=True)
        return hits[0].product if hits else None

    def search(
        self,
        query: str,
        *,
        query_vector: npt.NDArray[np.float32] | None = None,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        category: str | None = None,
        in_stock_only: bool = False,
        exclude: Iterable[str] = (),
        limit: int = 8,
        require_match: bool = False,
    ) -> list[Hit]:
        """Best first, within the filters. With `query_vector` the ranking is hybrid (cosine
        plus normalised BM25) and each hit says whether it `fits`; without, it is BM25 alone
        and a hit fits when it shares a word with the query. Hits that do not fit are kept
        (after those that do) as candidate alternatives, unless `require_match`."""
        bm25 = self._index()
        terms = tokenize(query)
        lexical = bm25.scores(terms)
        best_lexical = max(lexical, default=0.0)
        similarities: list[float] | None = None
        embedded: npt.NDArray[np.bool_] | None = None
        rules = self.relevance
        distinct_above = math.inf
        if query_vector is not None and self._order:
            matrix, embedded = self._vectors()
            all_similarities = matrix @ query_vector
            similarities = all_similarities.tolist()
            if int(embedded.sum()) >= rules.distinct_min_products:
                known = all_similarities[embedded]
                distinct_above = float(known.mean() + rules.distinct * known.std())
        excluded = set(exclude)
        hits = []
        for row, product_id in enumerate(self._order):
            product = self.products[product_id]
            if product_id in excluded:
                continue
            if min_price is not None and product.price < min_price:
                continue
            if max_price is not None and product.price > max_price:
                continue
            if category and product.category.lower() != category.lower():
                continue
            in_stock = product.stock_quantity > 0
            if in_stock_only and not in_stock:
                continue
            words = product.token_set
            matched = tuple(t for t in dict.fromkeys(terms) if t in words)
            similarity: float | None = None
            if similarities is not None and embedded is not None and embedded[row]:
                similarity = similarities[row]
                normalised = lexical[row] / best_lexical if best_lexical > 0 else 0.0
                score = similarity + rules.lexical_weight * normalised
                fits = similarity >= rules.threshold or (
                    similarity >= rules.support
                    and (lexical[row] > 0 or similarity >= distinct_above)
                )
                if not in_stock:
                    score -= rules.out_of_stock_penalty
            else:
                # BM25 alone; beside vectors (a product not embedded yet) on the same 0-1 scale.
                score = (
                    lexical[row]
                    if similarities is None
                    else (lexical[row] / best_lexical if best_lexical > 0 else 0.0)
                )
                fits = score > 0
                if not in_stock:
                    score *= 0.5  # still findable, but what can be bought ranks first
            if require_match and not fits:
                continue
            hits.append(Hit(product, score, matched, similarity, fits))
        if similarities is None and any(h.fits for h in hits):
            # Lexical ranking: products that match no word carry no signal at all.
            hits = [h for h in hits if h.fits]
        best_fit = max((h.score for h in hits if h.fits), default=None)
        if similarities is not None and best_fit is not None:
            hits = [
                replace(h, fits=True)
                if not h.fits and h.similarity is not None and h.score >= best_fit - rules.margin
                else h
                for h in hits
            ]
        hits.sort(
            key=lambda h: (
                not h.fits,
                -h.score,
                not h.product.stock_quantity,
                -h.product.price,
                h.product.name,
            )
        )
        return hits[:limit]

    def _current(self, product: Product) -> bool:
        # Only a product as the index holds it now is remembered by its id.
        return self.products.get(product.id) is product

    def similar(self, product: Product, limit: int = 5) -> list[Hit]:
        """Nearest products by embedding (cosine), best first; empty if not embedded."""
        if not self._current(product):
            return self._similar(product, limit)
        return list(
            self._remembered(("similar", product.id, limit), lambda: self._similar(product, limit))
        )

    def _similar(self, product: Product, limit: int) -> list[Hit]:
        vector = self.vectors.get(product.id)
        if vector is None:
            return []
        hits = self.search(
            " ".join([product.name, product.category, *product.tags]),
            query_vector=vector,
            exclude=[product.id],
            limit=limit,
        )
        return [h for h in hits if h.similarity is not None]

    def related(self, product: Product, limit: int = 5) -> list[Hit]:
        """Same category or shared tags first, then words in common."""
        if not self._current(product):
            return self._related(product, limit)
        return list(
            self._remembered(("related", product.id, limit), lambda: self._related(product, limit))
        )

    def _related(self, product: Product, limit: int) -> list[Hit]:
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
