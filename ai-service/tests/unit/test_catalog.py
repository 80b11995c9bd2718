from decimal import Decimal

from ai_service.catalog import BM25, CatalogIndex, Product, tokenize

from .catalog_fixture import product, sample_catalog


def test_tokenizer_lowercases_drops_stopwords_and_plurals() -> None:
    assert tokenize("Show me some Running Shoes for the batteries") == [
        "running",
        "shoe",
        "battery",
    ]


def test_bm25_prefers_rare_terms_and_shorter_documents() -> None:
    index = BM25([["phone", "case"], ["phone"], ["laptop", "bag", "phone", "case", "extra"]])
    scores = index.scores(["case"])
    assert scores[1] == 0
    assert scores[0] > scores[2] > 0


def test_search_ranks_by_relevance_within_the_budget() -> None:
    catalog = sample_catalog()
    hits = catalog.search("android phone", max_price=Decimal("500"))
    assert [h.product.id for h in hits][:1] == ["p-budget"]
    assert all(h.product.price <= 500 for h in hits)
    assert "android" in hits[0].matched


def test_search_without_matching_words_lists_what_fits_the_budget() -> None:
    hits = sample_catalog().search("gift", max_price=Decimal("30"))
    assert {h.product.id for h in hits} == {"p-case", "p-mat"}
    assert hits[0].product.id == "p-case"  # in stock before out of stock
    assert sample_catalog().search("gift", require_match=True) == []


def test_older_versions_never_overwrite_and_deletes_are_not_undone() -> None:
    catalog = CatalogIndex()
    assert catalog.upsert(product("p1", "Lamp v2", "10", "Home", version=2))
    assert not catalog.upsert(product("p1", "Lamp v1", "10", "Home", version=1))
    assert catalog.get("p1").name == "Lamp v2"  # type: ignore[union-attr]
    assert catalog.delete("p1", 3)
    assert not catalog.upsert(product("p1", "Lamp v2 again", "10", "Home", version=2))
    assert catalog.get("p1") is None
    assert catalog.upsert(product("p1", "Lamp v4", "10", "Home", version=4))
    assert not catalog.delete("p1", 3)
    assert catalog.get("p1").name == "Lamp v4"  # type: ignore[union-attr]


def test_related_products_share_category_or_tags_first() -> None:
    catalog = sample_catalog()
    phone = catalog.get("p-phone")
    assert phone is not None
    related = [h.product.id for h in catalog.related(phone, limit=3)]
    assert "p-phone" not in related
    assert related[0] in {"p-pixel", "p-laptop", "p-case"}
    assert "p-shoe" not in related


def test_product_from_rest_document_keeps_money_exact() -> None:
    doc = {
        "id": "x",
        "name": "Pen",
        "price": 1999.98,
        "category": "Office",
        "tags": ["pen", ""],
        "stock_quantity": 3,
        "version": 5,
    }
    p = Product.from_document(doc)
    assert p.price == Decimal("1999.98")
    assert p.tags == ("pen",)
    assert p.version == 5


def test_remembered_answers_are_the_computed_ones_and_follow_every_change() -> None:
    import numpy as np

    from ai_service.embeddings import DIMENSION

    catalog = sample_catalog()
    fresh = sample_catalog()
    phone = catalog.get("p-phone")
    assert phone is not None
    # Asked twice (the second answer from memory): the same as a catalog that never remembered.
    for _ in range(2):
        assert catalog.find_by_name("apple smartphone") == fresh.find_by_name("apple smartphone")
        assert catalog.find_by_name("no such thing") is None
        assert catalog.related(phone, limit=3) == fresh.related(phone, limit=3)
        assert catalog.similar(phone, limit=3) == []  # not embedded
    # A caller sorting its copy does not change what is remembered.
    catalog.related(phone, limit=3).clear()
    assert catalog.related(phone, limit=3) == fresh.related(phone, limit=3)

    # An upsert: the new product is found at once.
    assert catalog.find_by_name("Desk Lamp") is None
    catalog.upsert(product("p-lamp", "Desk Lamp", "20", "Home"))
    assert catalog.find_by_name("Desk Lamp") == catalog.get("p-lamp")
    # A delete: gone from every remembered answer.
    assert catalog.delete("p-lamp", 2)
    assert catalog.find_by_name("Desk Lamp") is None
    # A vector arriving: similar() sees it.
    other = catalog.get("p-budget")
    assert other is not None
    vector = np.zeros(DIMENSION, np.float32)
    vector[0] = 1.0
    assert catalog.set_vector(phone.id, phone.text_key(), vector)
    assert catalog.similar(phone, limit=3) == []  # the only embedded product
    assert catalog.set_vector(other.id, other.text_key(), vector)
    assert [h.product.id for h in catalog.similar(phone, limit=3)] == ["p-budget"]
    # A product that is not the index's current one is answered, never remembered.
    stale = product("p-phone", "Old Phone", "1", "Electronics", version=0)
    catalog._memo.clear()
    assert catalog.related(stale, limit=3)
    assert not catalog._memo
