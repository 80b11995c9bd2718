"""Thin routers: parse, call the assistant, shape the reply."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ai_service.schemas import (
    ChatReply,
    ChatRequest,
    RecommendationsReply,
    SuggestReply,
    SuggestRequest,
)
from ai_service.service import AssistantService
from chassis.api import exact_reply, service_dependency
from chassis.exact_json import ExactJSONResponse

router = APIRouter(prefix="/api/ai", tags=["ai"])

Assistant = Annotated[AssistantService, Depends(service_dependency(AssistantService, "assistant"))]


@router.post("/chat", response_model=ChatReply, summary="Shopping assistant")
async def chat(body: ChatRequest, assistant: Assistant) -> ExactJSONResponse:
    return exact_reply(ChatReply, await assistant.chat_reply(body))


@router.get(
    "/recommendations",
    response_model=RecommendationsReply,
    summary="Bought together (from real orders) and similar products for a product "
    "(by id or name), or the best of a category",
)
async def recommendations(
    assistant: Assistant,
    product_id: Annotated[str | None, Query(max_length=100)] = None,
    product_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
) -> ExactJSONResponse:
    return exact_reply(
        RecommendationsReply,
        await assistant.recommendations(product_name, category, product_id=product_id),
    )


@router.post("/suggest", response_model=SuggestReply, summary="Natural-language product search")
async def suggest(body: SuggestRequest, assistant: Assistant) -> ExactJSONResponse:
    return exact_reply(
        SuggestReply,
        await assistant.suggest(
            body.query, category=body.category, in_stock_only=body.in_stock_only
        ),
    )
