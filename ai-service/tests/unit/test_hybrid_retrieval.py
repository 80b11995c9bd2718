"""Hybrid retrieval with the real offline model (all-MiniLM-L6-v2 int8 ONNX from its PyPI
package): shoppers' words that share nothing with the product text still find it, a query
nothing fits says so, and budget, category and stock stay hard limits."""

import asyncio
import threading
from collections.abc import AsyncIterator
from decimal import Decimal

import numpy as np
import pytest

from ai_service.catalog import CatalogIndex
from ai_service.config import Settings
from ai_service.embeddings import DIMENSION, Embedder, load_embedder
from ai_service.indexer import EmbeddingIndexer
from ai_service.schemas import ChatRequest
from ai_service.service import AssistantService

from .catalog_fixture import product


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


def shop() -> CatalogIndex:
    catalog = CatalogIndex()
    for p in [
        product(
            "fryer",
            "Ninja Air Fryer Max XL",
            "129.99",
            "Home & Kitchen",
            ("air-fryer", "kitchen", "appliance"),
            "5.5-quart air fryer with max crisp.",
        ),
        product(
            "vacuum",
            "Dyson V15 Detect Vacuum",
            "749.99",
            "Home & Kitchen",
            ("vacuum", "cordless", "dyson"),
            "Cordless vacuum with laser dust detection.",
        ),
        product(
            "tumbler",
            "Yeti Rambler 20 oz Tumbler",
            "35.00",
            "Sports & Outdoors",
            ("drinkware", "insulated", "outdoor"),
            "Stainless steel, double-wall vacuum insulated tumbler.",
        ),
        product(
            "kindle",
            "Kindle Paperwhite",
            "149.99",
            "Electronics",
            ("e-reader", "amazon", "books"),
            "6.8-inch glare-free display, waterproof.",
        ),
        product(
            "pixel",
            "Google Pixel 8",
            "699.00",
            "Electronics",
            ("smartphone", "google", "android"),
            "Tensor G3 chip, seven years of updates.",
        ),
        product(
            "jeans",
            "Levi's 501 Original Jeans",
            "69.50",
            "Clothing",
            ("jeans", "denim", "levis"),
            "The original straight-fit button-fly jeans.",
        ),
        product(
            "habits",
            "Atomic Habits",
            "16.99",
            "Books",
            ("self-help", "habits"),
            "James Clear on building good habits and breaking bad ones.",
        ),
        product(
            "tent",
            "Coleman Sundome 4-Person Tent",
            "89.99",
            "Sports & Outdoors",
            ("tent", "camping", "outdoor"),
            "Dome tent, sets up in 10 minutes.",
        ),
        product(
            "mat",
            "Manduka PRO Yoga Mat",
            "129.00",
            "Sports & Outdoors",
            ("yoga", "mat", "fitness"),
            "6 mm dense cushioning yoga mat.",
            stock=0,
        ),
        product(
            "catan",
            "Catan Board Game",
            "49.00",
            "Toys & Games",
            ("board-game", "strategy", "family"),
            "Trade, build and settle the island.",
        ),
        product(
            "cream",
            "CeraVe Moisturizing Cream",
            "18.99",
            "Beauty & Health",
            ("skincare", "moisturizer"),
            "Moisturizing cream with ceramides.",
        ),
        product(
            "pot",
            "Instant Pot Duo 7-in-1",
            "89.95",
            "Home & Kitchen",
            ("pressure-cooker", "kitchen", "appliance"),
            "Pressure cooker, slow cooker.",
        ),
    ]:
        catalog.upsert(p)
    catalog.loaded = True
    return catalog


@pytest.fixture
async def assistant(embedder: Embedder) -> AsyncIterator[AssistantService]:
    catalog = shop()
    indexer = EmbeddingIndexer(catalog, None, batch_size=5, embedder=embedder)
    indexer.start()
    async with asyncio.timeout(60):
        await indexer.wait_idle()
    yield AssistantService(catalog, None, Settings(), indexer=indexer)
    await indexer.stop()


def test_vectors_are_unit_length_and_deterministic(embedder: Embedder) -> None:
    vectors = embedder.embed(["an air fryer", "an air fryer", "a tent"])
    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("crispy fries without deep frying", "fryer"),
        ("get pet hair off the carpet", "vacuum"),
        ("something to keep my drinks cold on a hike", "tumbler"),
        ("read ebooks at the beach", "kindle"),
    ],
)
async def test_meaning_finds_products_that_share_no_word(
    assistant: AssistantService,
    query: str,
    expected: str,
) -> None:
    lexical = assistant.catalog.search(query, require_match=True)
    assert expected not in [h.product.id for h in lexical[:1]]  # BM25 alone misses it
    reply = await assistant.suggest(query)
    assert reply.matches[0].product_id == expected
    assert reply.alternatives == []


async def test_nothing_fits_is_said_with_labelled_alternatives(
    assistant: AssistantService,
) -> None:
    reply = await assistant.suggest("a lawn mower for my garden")
    assert reply.matches == []
    assert reply.note is not None
    assert reply.note.startswith("Nothing in our catalog fits")
    assert reply.alternatives
    assert all(a.reason.startswith("Closest alternative") for a in reply.alternatives)
    chat = await assistant.chat_reply(ChatRequest(message="a lawn mower for my garden"))
    assert chat.reply.startswith("Nothing in our catalog fits")
    assert all(p.reason.startswith("Closest alternative") for p in chat.products)


async def test_over_budget_the_fitting_product_is_an_alternative_above_the_budget(
    assistant: AssistantService,
) -> None:
    reply = await assistant.suggest("crispy fries without deep frying under $50")
    assert reply.matches == []
    assert reply.alternatives[0].product_id == "fryer"
    assert reply.alternatives[0].reason == "Closest alternative, above your budget at $129.99"


async def test_budget_category_and_stock_are_hard_limits(assistant: AssistantService) -> None:
    cheap = await assistant.suggest("something for the kitchen under $100")
    assert cheap.matches
    assert all(m.price <= Decimal(100) for m in cheap.matches)
    books = await assistant.suggest("a good read", category="books")
    assert {m.product_id for m in books.matches} <= {"habits"}
    stocked = await assistant.suggest("yoga at home", in_stock_only=True)
    assert "mat" not in [m.product_id for m in stocked.matches]
    assert [(a.product_id, a.reason) for a in stocked.alternatives][:1] == [
        ("mat", "Closest alternative, currently out of stock")
    ]
    any_stock = await assistant.suggest("yoga at home")
    assert any_stock.matches[0].product_id == "mat"  # out of stock, still the answer
    assert "out of stock" in any_stock.matches[0].reason


async def test_a_follow_up_in_other_words_is_understood(assistant: AssistantService) -> None:
    first = await assistant.chat_reply(ChatRequest(message="android phone"))
    second = await assistant.chat_reply(
        ChatRequest(
            message="crispy fries without deep frying",
            history=[
                {"role": "user", "content": "android phone"},  # type: ignore[list-item]
                {"role": "assistant", "content": first.reply},
            ],
        )
    )
    assert second.products[0].product_id == "fryer"


async def test_changed_text_is_embedded_again_and_stale_vectors_never_attach(
    assistant: AssistantService,
) -> None:
    catalog, indexer = assistant.catalog, assistant.indexer
    assert indexer is not None
    old = catalog.get("jeans")
    assert old is not None
    assert "jeans" in catalog.vectors
    renamed = product(
        "jeans",
        "Trail Running Vest",
        "69.50",
        "Clothing",
        ("running",),
        "A light hydration vest for long trail runs.",
        version=2,
    )
    assert catalog.upsert(renamed)
    assert "jeans" not in catalog.vectors  # the old text's vector is gone at once
    assert not catalog.set_vector("jeans", old.text_key(), np.zeros(DIMENSION, np.float32))
    async with asyncio.timeout(30):
        await indexer.wait_idle()
    assert catalog.vector_keys["jeans"] == renamed.text_key()
    reply = await assistant.suggest("hydration for an ultramarathon")
    assert reply.matches[0].product_id == "jeans"


async def test_embedding_runs_in_worker_threads_not_on_the_event_loop(
    embedder: Embedder,
) -> None:
    threads: list[str] = []

    class Recording:
        model_id = embedder.model_id

        def embed(self, texts: list[str]) -> np.ndarray:
            threads.append(threading.current_thread().name)
            return embedder.embed(texts)

    catalog = shop()
    indexer = EmbeddingIndexer(catalog, None, batch_size=4, embedder=Recording())  # type: ignore[arg-type]
    indexer.start()
    async with asyncio.timeout(60):
        await indexer.wait_idle()
    await indexer.embed_query("a tent")
    await indexer.stop()
    assert len(threads) == 4  # 12 products in batches of 4, then one query
    assert all(name.startswith("embed-index") for name in threads[:3])
    assert threads[3].startswith("embed-query")
    assert threading.main_thread().name not in threads
