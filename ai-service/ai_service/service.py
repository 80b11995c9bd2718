"""Use cases: chat, recommendations, natural-language suggest and the follow-up email.

Each retrieves the top catalog matches first and sends only those to the model. The model's
JSON is parsed into Pydantic models; products it names that are not among them are dropped.
Whenever the model fails, times out, is rate limited, or answers with nothing usable, the
answer degrades to the local one: never an error."""

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from ai_service import local
from ai_service.catalog import CatalogIndex, Hit, Product, tokenize
from ai_service.config import Settings
from ai_service.llm.resilient import LLMUnavailable, ResilientChat
from ai_service.queries import ChatTurn, understand
from ai_service.schemas import (
    ChatReply,
    ChatRequest,
    ModelChatAnswer,
    ModelEmail,
    ModelPicks,
    ModelSuggestAnswer,
    PickedProduct,
    ProductSuggestion,
    RecommendationsReply,
    SuggestReply,
)

log = structlog.get_logger(__name__)

T = TypeVar("T", bound=BaseModel)

DEGRADED = Counter("ai_answers_degraded_total", "Answers that fell back to local retrieval",
                   ["task", "reason"])

GROUNDING = (
    "You are the shopping assistant of an online store. Use ONLY the products in the "
    "`catalog` list of the input; never invent products, prices or features. Refer to "
    "products by their `product_id` exactly as given. Answer with one JSON object only."
)
CHAT_SYSTEM = GROUNDING + (
    ' Schema: {"reply": string (a short helpful answer for the shopper), "products": '
    '[{"product_id": string, "reason": string}] (at most 5, best first)}.'
)
PICKS_SYSTEM = GROUNDING + (
    ' Pick products related to `product` that a shopper would also like. Schema: '
    '{"products": [{"product_id": string, "reason": string}]} (at most 5, best first).'
)
SUGGEST_SYSTEM = GROUNDING + (
    " Turn the shopper's `query` into the matching products and search terms. Schema: "
    '{"products": [{"product_id": string, "reason": string}], "search_tags": [string], '
    '"search_category": string or null}.'
)
EMAIL_SYSTEM = GROUNDING + (
    " Write a short, warm follow-up email for the order in `order`, suggesting up to 3 "
    'products from `catalog`. Schema: {"subject": string, "body_html": string (simple HTML: '
    'p, ul, li, strong, em, a), "body_text": string (the same as plain text)}.'
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def parse_model_json(text: str, model: type[T]) -> T:
    """The model's answer as `model`; tolerates code fences and prose around the object."""
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start == -1 or end < start:
        raise ValueError("no JSON object in the model's answer")
    return model.model_validate(json.loads(cleaned[start:end + 1]))


def _context(products: Sequence[Product]) -> list[dict[str, Any]]:
    return [
        {"product_id": p.id, "name": p.name, "price": str(p.price), "category": p.category,
         "tags": list(p.tags), "in_stock": p.stock_quantity > 0,
         "description": p.description[:300]}
        for p in products
    ]


class AssistantService:
    def __init__(self, catalog: CatalogIndex, chat: ResilientChat | None,
                 settings: Settings) -> None:
        self.catalog = catalog
        self.chat = chat
        self.settings = settings

    @property
    def model_label(self) -> str:
        return self.chat.label if self.chat is not None else local.GENERATED_BY_LOCAL

    # ---- the model, guarded ----------------------------------------------------------------

    async def _ask(self, task: str, system: str, payload: dict[str, Any],
                   answer: type[T]) -> T | None:
        if self.chat is None:
            return None
        try:
            text = await self.chat.complete(system, json.dumps(payload, ensure_ascii=False))
        except LLMUnavailable as exc:
            DEGRADED.labels(task, "unavailable").inc()
            log.warning("ai.degraded", task=task, reason="unavailable", error=str(exc))
            return None
        try:
            return parse_model_json(text, answer)
        except (ValueError, ValidationError) as exc:
            DEGRADED.labels(task, "unparseable").inc()
            log.warning("ai.degraded", task=task, reason="unparseable", error=str(exc)[:300])
            return None

    def _ground(self, picks: Sequence[PickedProduct], allowed: Sequence[Product],
                limit: int = 5) -> list[ProductSuggestion]:
        """Keep picks that name a product we sent (by id, or by exact name); drop the rest."""
        by_id = {p.id: p for p in allowed}
        by_name = {p.name.lower(): p for p in allowed}
        grounded: list[ProductSuggestion] = []
        seen: set[str] = set()
        for pick in picks:
            product = by_id.get(pick.product_id) or by_name.get(pick.product_id.lower())
            if product is None:
                log.info("ai.dropped_unknown_product", product_id=pick.product_id[:80])
                continue
            if product.id in seen:
                continue
            seen.add(product.id)
            grounded.append(local.suggestion(product, pick.reason.strip() or "Suggested"))
            if len(grounded) >= limit:
                break
        return grounded

    # ---- chat ------------------------------------------------------------------------------

    async def chat_reply(self, request: ChatRequest) -> ChatReply:
        history = [ChatTurn(m.role, m.content) for m in request.history]
        known = {t for p in self.catalog.products.values() for t in p.weighted_tokens()}
        query = understand(request.message, history, known)
        shown: set[str] = set()
        if query.exclude_shown:
            for turn in history:
                if turn.role == "assistant":
                    shown |= {p.id for p in self.catalog.products.values()
                              if p.name and p.name in turn.content}
        hits = self.catalog.search(query.topic, min_price=query.min_price,
                                   max_price=query.max_price, exclude=shown,
                                   limit=self.settings.retrieval_top_k)
        if hits and self.chat is not None:
            answer = await self._ask("chat", CHAT_SYSTEM, {
                "catalog": _context([h.product for h in hits]),
                "budget": {"min": str(query.min_price) if query.min_price else None,
                           "max": str(query.max_price) if query.max_price else None},
                "history": [{"role": t.role, "content": t.content[:1000]} for t in history[-6:]],
                "message": request.message,
            }, ModelChatAnswer)
            if answer is not None:
                products = self._ground(answer.products, [h.product for h in hits])
                if products or not answer.products:
                    return ChatReply(reply=answer.reply, products=products,
                                     generated_by=self.model_label)
                DEGRADED.labels("chat", "ungrounded").inc()
        top = hits[:5]
        return ChatReply(
            reply=local.chat_reply(query, top, len(self.catalog)),
            products=[local.suggestion(h.product, local.reason_for(h)) for h in top],
            generated_by=local.GENERATED_BY_LOCAL,
        )

    # ---- recommendations -------------------------------------------------------------------

    def _related_hits(self, product_name: str | None, category: str | None
                      ) -> tuple[Product | None, list[Hit]]:
        anchor = self.catalog.find_by_name(product_name) if product_name else None
        if anchor is not None:
            hits = self.catalog.related(anchor, limit=self.settings.retrieval_top_k)
            if category:
                hits = [h for h in hits if h.product.category.lower() == category.lower()]
            return anchor, hits
        return None, self.catalog.search(product_name or category or "", category=category,
                                         limit=self.settings.retrieval_top_k)

    async def recommendations(self, product_name: str | None, category: str | None
                              ) -> RecommendationsReply:
        anchor, hits = self._related_hits(product_name, category)
        if hits and self.chat is not None:
            picks = await self._ask("recommendations", PICKS_SYSTEM, {
                "product": _context([anchor])[0] if anchor else {"name": product_name,
                                                                 "category": category},
                "catalog": _context([h.product for h in hits]),
            }, ModelPicks)
            if picks is not None:
                grounded = self._ground(picks.products, [h.product for h in hits])
                if grounded:
                    return RecommendationsReply(recommendations=grounded,
                                                generated_by=self.model_label)
                DEGRADED.labels("recommendations", "ungrounded").inc()
        return RecommendationsReply(
            recommendations=[local.suggestion(h.product, self._related_reason(anchor, h))
                             for h in hits[:5]],
            generated_by=local.GENERATED_BY_LOCAL,
        )

    @staticmethod
    def _related_reason(anchor: Product | None, hit: Hit) -> str:
        if anchor is None:
            return local.reason_for(hit)
        shared = sorted({t.lower() for t in anchor.tags} & {t.lower() for t in hit.product.tags})
        parts = []
        if anchor.category and hit.product.category == anchor.category:
            parts.append(f"also in {anchor.category}")
        if shared:
            parts.append("shares " + ", ".join(shared[:3]))
        if not parts:
            parts.append(f"related to {anchor.name}")
        text = "; ".join(parts)
        return text[:1].upper() + text[1:]

    # ---- suggest ---------------------------------------------------------------------------

    async def suggest(self, text: str) -> SuggestReply:
        query = understand(text, [], set())
        hits = self.catalog.search(text, min_price=query.min_price, max_price=query.max_price,
                                   limit=self.settings.retrieval_top_k, require_match=True)
        words = set(tokenize(text))
        tags = sorted(t for t in self.catalog.tags() if set(tokenize(t)) & words)
        category = next((c for c in sorted(self.catalog.categories())
                         if set(tokenize(c)) & words), None)
        if category is None and hits:
            category = hits[0].product.category or None
        if hits and self.chat is not None:
            answer = await self._ask("suggest", SUGGEST_SYSTEM, {
                "query": text, "catalog": _context([h.product for h in hits]),
                "known_categories": sorted(self.catalog.categories()),
            }, ModelSuggestAnswer)
            if answer is not None:
                grounded = self._ground(answer.products, [h.product for h in hits])
                if grounded:
                    known_categories = {c.lower(): c for c in self.catalog.categories()}
                    model_category = known_categories.get((answer.search_category or "").lower())
                    return SuggestReply(
                        matches=grounded,
                        search_tags=[t.strip()[:50] for t in answer.search_tags if t.strip()][:10],
                        search_category=model_category or category,
                        generated_by=self.model_label,
                    )
                DEGRADED.labels("suggest", "ungrounded").inc()
        return SuggestReply(
            matches=[local.suggestion(h.product, local.reason_for(h)) for h in hits[:5]],
            search_tags=tags or sorted(words)[:10],
            search_category=category,
            generated_by=local.GENERATED_BY_LOCAL,
        )

    # ---- the follow-up email ---------------------------------------------------------------

    async def follow_up_email(self, customer_name: str, order_number: str,
                              items: Sequence[tuple[str, str]]) -> tuple[ModelEmail, str]:
        """(email, generated_by) for an order of (product_id, product_name) items."""
        bought_ids = {pid for pid, _ in items}
        names = [name for _, name in items]
        related: dict[str, Product] = {}
        for product_id, name in items:
            product = self.catalog.get(product_id) or self.catalog.find_by_name(name)
            hits = (self.catalog.related(product, limit=4) if product is not None
                    else self.catalog.search(name, limit=4, require_match=True))
            for hit in hits:
                if hit.product.id not in bought_ids:
                    related.setdefault(hit.product.id, hit.product)
        picks = list(related.values())[:3]
        if self.chat is not None:
            email = await self._ask("email", EMAIL_SYSTEM, {
                "order": {"order_number": order_number, "customer_name": customer_name,
                          "items": names},
                "catalog": _context(picks),
            }, ModelEmail)
            if email is not None:
                return email, self.model_label
        return local.follow_up_email(customer_name, order_number, names, picks), \
            local.GENERATED_BY_LOCAL
