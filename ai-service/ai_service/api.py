"""Thin routers: parse, call the assistant, shape the reply."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from ai_service.schemas import (
    ChatReply,
    ChatRequest,
    RecommendationsReply,
    SuggestReply,
    SuggestRequest,
)
from ai_service.service import AssistantService
from chassis.exact_json import ExactJSONResponse

router = APIRouter(prefix="/api/ai", tags=["ai"])


def _reply(model: BaseModel) -> ExactJSONResponse:
    return ExactJSONResponse(model.model_dump(mode="python"))


def _assistant(request: Request) -> AssistantService:
    assistant: AssistantService = request.app.state.assistant
    return assistant


@router.post("/chat", response_model=ChatReply, summary="Shopping assistant")
async def chat(body: ChatRequest, request: Request) -> ExactJSONResponse:
    return _reply(await _assistant(request).chat_reply(body))


@router.get(
    "/recommendations",
    response_model=RecommendationsReply,
    summary="Bought together (from real orders) and similar products for a product "
    "(by id or name), or the best of a category",
)
async def recommendations(
    request: Request,
    product_id: Annotated[str | None, Query(max_length=100)] = None,
    product_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
) -> ExactJSONResponse:
    return _reply(
        await _assistant(request).recommendations(product_name, category, product_id=product_id)
    )


@router.post("/suggest", response_model=SuggestReply, summary="Natural-language product search")
async def suggest(body: SuggestRequest, request: Request) -> ExactJSONResponse:
    return _reply(
        await _assistant(request).suggest(
            body.query, category=body.category, in_stock_only=body.in_stock_only
        )
    )
