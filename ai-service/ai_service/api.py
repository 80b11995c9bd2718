"""Thin routers: parse, call the assistant, shape the reply."""

import json
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ai_service.schemas import (
    ChatReply,
    ChatRequest,
    RecommendationsReply,
    SuggestReply,
    SuggestRequest,
)
from ai_service.service import AssistantService

router = APIRouter(prefix="/api/ai", tags=["ai"])


class ExactJSONResponse(JSONResponse):
    """JSON whose Decimals keep their own digits: a price of 599.00 is written `599.00`."""

    def render(self, content: Any) -> bytes:
        marker = uuid.uuid4().hex
        numbers: dict[str, str] = {}

        def keep_digits(value: Any) -> Any:
            if isinstance(value, Decimal):
                token = f"{marker}:{len(numbers)}"
                numbers[f'"{token}"'] = str(value)
                return token
            raise TypeError(f"{type(value).__name__} is not JSON serializable")

        text = json.dumps(content, default=keep_digits, ensure_ascii=False, separators=(",", ":"))
        for token, digits in numbers.items():
            text = text.replace(token, digits, 1)
        return text.encode()


def _reply(model: BaseModel) -> ExactJSONResponse:
    return ExactJSONResponse(model.model_dump(mode="python"))


def _assistant(request: Request) -> AssistantService:
    assistant: AssistantService = request.app.state.assistant
    return assistant


@router.post("/chat", response_model=ChatReply, summary="Shopping assistant")
async def chat(body: ChatRequest, request: Request) -> ExactJSONResponse:
    return _reply(await _assistant(request).chat_reply(body))


@router.get("/recommendations", response_model=RecommendationsReply,
            summary="Products related to a product (by name) and/or in a category")
async def recommendations(
    request: Request,
    product_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
) -> ExactJSONResponse:
    return _reply(await _assistant(request).recommendations(product_name, category))


@router.post("/suggest", response_model=SuggestReply,
             summary="Natural-language product search")
async def suggest(body: SuggestRequest, request: Request) -> ExactJSONResponse:
    return _reply(await _assistant(request).suggest(body.query))
