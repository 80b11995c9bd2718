"""LLM_PROVIDER -> a ResilientChat, or None for `local` (no model at all)."""

import httpx

from ai_service.config import Settings
from ai_service.llm.base import ChatModel
from ai_service.llm.providers import GeminiChat, GroqChat, OllamaChat, OpenAICompatibleChat
from ai_service.llm.resilient import FALLBACK_RESERVE_SECONDS, ResilientChat
from chassis.resilience import CallPolicy


class ProviderNotConfigured(ValueError):
    pass


def build_model(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> ChatModel | None:
    provider, key = settings.llm_provider, settings.llm_api_key
    common = {
        "model": settings.model_name,
        "base_url": settings.base_url,
        "timeout_seconds": settings.llm_timeout_seconds,
        "temperature": settings.llm_temperature,
        "max_tokens": settings.llm_max_tokens,
    }
    if provider == "local":
        return None
    if provider in ("groq", "gemini") and not key:
        raise ProviderNotConfigured(f"LLM_PROVIDER={provider} needs LLM_API_KEY")
    if provider == "groq":
        http = httpx.AsyncClient(transport=transport) if transport is not None else None
        return GroqChat(api_key=str(key), http_client=http, **common)  # type: ignore[arg-type]
    if provider == "openai":
        return OpenAICompatibleChat(api_key=key, transport=transport, **common)
    if provider == "ollama":
        return OllamaChat(transport=transport, **common)
    return GeminiChat(api_key=str(key), transport=transport, **common)


def build_chat(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> ResilientChat | None:
    """None means `local`. A provider that cannot be configured raises ProviderNotConfigured:
    the service does not start rather than quietly answer without the model asked for."""
    model = build_model(settings, transport)
    if model is None:
        return None
    return ResilientChat(
        model,
        CallPolicy.from_settings(settings, "llm", reserve_seconds=FALLBACK_RESERVE_SECONDS),
    )
