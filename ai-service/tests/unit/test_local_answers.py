"""LLM_PROVIDER=local: useful answers from the catalog alone, labelled as such."""

from decimal import Decimal

from ai_service.catalog import CatalogIndex
from ai_service.config import Settings
from ai_service.schemas import ChatMessage, ChatRequest
from ai_service.service import AssistantService

from .catalog_fixture import sample_catalog


def _assistant(catalog: CatalogIndex | None = None) -> AssistantService:
    return AssistantService(catalog if catalog is not None else sample_catalog(), None, Settings())


async def test_chat_honours_the_budget_and_says_it_is_not_an_llm() -> None:
    reply = await _assistant().chat_reply(ChatRequest(message="android phone under $500"))
    assert reply.generated_by == "local-retrieval"
    assert reply.products[0].product_id == "p-budget"
    assert all(p.price <= Decimal("500") for p in reply.products)
    assert "not written by a language model" in reply.reply
    assert "up to $500.00" in reply.reply


async def test_something_cheaper_follows_up_on_the_previous_answer() -> None:
    assistant = _assistant()
    first = await assistant.chat_reply(ChatRequest(message="I need a new smartphone"))
    top = first.products[0]
    assert top.product_id in {"p-phone", "p-pixel"}
    second = await assistant.chat_reply(
        ChatRequest(
            message="something cheaper",
            history=[
                ChatMessage(role="user", content="I need a new smartphone"),
                ChatMessage(role="assistant", content=first.reply),
            ],
        )
    )
    assert second.products
    assert all(p.price < top.price for p in second.products)
    assert "smartphone" in second.products[0].reason.lower()


async def test_chat_with_an_empty_catalog_says_so() -> None:
    reply = await _assistant(CatalogIndex()).chat_reply(ChatRequest(message="phone"))
    assert reply.products == []
    assert "not loaded yet" in reply.reply


async def test_recommendations_are_related_real_products() -> None:
    result = await _assistant().recommendations("iPhone 15 Pro", None)
    ids = [r.product_id for r in result.recommendations]
    assert ids
    assert "p-phone" not in ids
    assert len(ids) <= 5
    assert result.generated_by == "local-retrieval"
    only_accessories = await _assistant().recommendations("iPhone 15 Pro", "Accessories")
    assert {r.product_id for r in only_accessories.recommendations} <= {"p-case", "p-charger"}


async def test_suggest_turns_a_sentence_into_matches_tags_and_category() -> None:
    reply = await _assistant().suggest("running shoes below 100")
    assert [m.product_id for m in reply.matches] == ["p-shoe"]
    assert "running" in reply.search_tags
    assert reply.search_category == "Sports"


async def test_follow_up_email_suggests_related_products_not_the_ones_bought() -> None:
    email, by = await _assistant().follow_up_email(
        "Yash Vyas", "ORD-1", [("p-phone", "iPhone 15 Pro")]
    )
    assert by == "local-retrieval"
    assert email.subject == "Yash, thanks for your order ORD-1"
    assert "iPhone 15 Pro" in email.body_text
    assert "Shoppers who chose iPhone 15 Pro also looked at" in email.body_text
    assert "<li>iPhone 15 Pro " not in email.body_html
