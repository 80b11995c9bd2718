"""Every provider against recorded HTTP replies (respx; no network): the JSON answer is
parsed and grounded, 429/5xx/timeouts are retried, and whatever still fails degrades to the
local answer, never an error. See recordings/README.md for where the replies come from."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ai_service.config import Settings
from ai_service.llm.factory import build_chat
from ai_service.schemas import ChatRequest
from ai_service.service import AssistantService
from chassis import deadlines
from chassis.resilience import CallPolicy, RetryPolicy

from .catalog_fixture import sample_catalog

RECORDINGS = Path(__file__).parent / "recordings"

PROVIDERS: dict[str, tuple[str, str, str]] = {
    # provider: (endpoint, recorded reply, label)
    "groq": (
        "https://api.groq.com/openai/v1/chat/completions",
        "groq_chat.json",
        "groq:llama-3.3-70b-versatile",
    ),
    "openai": (
        "https://api.openai.com/v1/chat/completions",
        "openai_chat.json",
        "openai:gpt-4o-mini",
    ),
    "ollama": ("http://127.0.0.1:11434/api/chat", "ollama_chat.json", "ollama:llama3.2"),
    "gemini": (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
        "gemini_generate.json",
        "gemini:gemini-2.0-flash",
    ),
}


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text())


def assistant(provider: str, **overrides: Any) -> AssistantService:
    options: dict[str, Any] = {
        "llm_provider": provider,
        "llm_api_key": "test-key",
        "llm_retry_attempts": 3,
        "llm_retry_backoff_seconds": 0,
        "llm_retry_backoff_max_seconds": 0,
        "llm_timeout_seconds": 2,
    }
    options.update(overrides)
    settings = Settings(**options)
    return AssistantService(sample_catalog(), build_chat(settings), settings)


ASK = ChatRequest(message="running shoes under $100")


@pytest.mark.parametrize("provider", list(PROVIDERS))
@respx.mock
async def test_answer_is_parsed_grounded_and_labelled(provider: str) -> None:
    url, reply, label = PROVIDERS[provider]
    route = respx.post(url).mock(return_value=httpx.Response(200, json=recording(reply)))
    answer = await assistant(provider).chat_reply(ASK)
    assert answer.generated_by == label
    assert answer.reply == "For running I suggest the Trail Runner shoes."
    # prod-invented is not in the catalog: dropped. Price comes from the catalog.
    assert [(p.product_id, str(p.price)) for p in answer.products] == [("p-shoe", "89.50")]
    sent = json.loads(route.calls.last.request.content)
    context = json.dumps(sent)
    assert "p-shoe" in context
    assert "p-laptop" not in context  # only the retrieved matches go to the model


@respx.mock
async def test_each_provider_sends_its_own_auth_and_json_mode() -> None:
    calls = {}
    for provider, (url, reply, _) in PROVIDERS.items():
        calls[provider] = respx.post(url).mock(
            return_value=httpx.Response(200, json=recording(reply))
        )
        await assistant(provider).chat_reply(ASK)
    groq = calls["groq"].calls.last.request
    assert groq.headers["authorization"] == "Bearer test-key"
    assert json.loads(groq.content)["response_format"] == {"type": "json_object"}
    openai = calls["openai"].calls.last.request
    assert openai.headers["authorization"] == "Bearer test-key"
    ollama = json.loads(calls["ollama"].calls.last.request.content)
    assert (ollama["format"], ollama["stream"]) == ("json", False)
    gemini = calls["gemini"].calls.last.request
    assert gemini.headers["x-goog-api-key"] == "test-key"
    body = json.loads(gemini.content)
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["systemInstruction"]["parts"][0]["text"].startswith("You are")


@pytest.mark.parametrize(
    ("provider", "limited"),
    [
        ("groq", "groq_429.json"),
        ("gemini", "gemini_429.json"),
        ("openai", "groq_429.json"),
        ("ollama", "groq_429.json"),
    ],
)
@respx.mock
async def test_a_429_is_retried_with_backoff_then_succeeds(provider: str, limited: str) -> None:
    url, reply, label = PROVIDERS[provider]
    route = respx.post(url).mock(
        side_effect=[
            httpx.Response(429, json=recording(limited), headers={"retry-after": "0"}),
            httpx.Response(200, json=recording(reply)),
        ]
    )
    answer = await assistant(provider).chat_reply(ASK)
    assert route.call_count == 2
    assert answer.generated_by == label


@pytest.mark.parametrize("provider", list(PROVIDERS))
@respx.mock
async def test_persistent_5xx_degrades_to_local_after_the_attempts(provider: str) -> None:
    url, _, _ = PROVIDERS[provider]
    route = respx.post(url).mock(return_value=httpx.Response(503, json={"error": "overloaded"}))
    answer = await assistant(provider).chat_reply(ASK)
    assert route.call_count == 3
    assert answer.generated_by == "local-retrieval"
    assert [p.product_id for p in answer.products] == ["p-shoe"]


@pytest.mark.parametrize("provider", list(PROVIDERS))
@respx.mock
async def test_timeouts_are_retried_then_degrade(provider: str) -> None:
    url, _, _ = PROVIDERS[provider]
    route = respx.post(url).mock(side_effect=httpx.ReadTimeout("slow"))
    answer = await assistant(provider).chat_reply(ASK)
    assert route.call_count == 3
    assert answer.generated_by == "local-retrieval"


@respx.mock
async def test_a_rejected_key_is_not_retried() -> None:
    url, _, _ = PROVIDERS["openai"]
    route = respx.post(url).mock(return_value=httpx.Response(401, json={"error": "bad key"}))
    answer = await assistant("openai").chat_reply(ASK)
    assert route.call_count == 1
    assert answer.generated_by == "local-retrieval"


@respx.mock
async def test_the_breaker_opens_and_stops_calling_the_model() -> None:
    url, _, _ = PROVIDERS["ollama"]
    route = respx.post(url).mock(return_value=httpx.Response(500))
    ai = assistant(
        "ollama",
        llm_retry_attempts=1,
        llm_breaker_failure_threshold=2,
        llm_breaker_reset_seconds=60,
    )
    for _ in range(2):
        await ai.chat_reply(ASK)
    assert ai.chat is not None
    assert await ai.chat.breaker_state() == "opened"
    answer = await ai.chat_reply(ASK)
    assert route.call_count == 2  # the third answer never reached the model
    assert answer.generated_by == "local-retrieval"


@pytest.mark.parametrize(
    "content",
    ["not json at all", '{"reply": ""}', '{"reply": "x", "products": [{"product_id": "nope"}]}'],
)
@respx.mock
async def test_unusable_model_output_degrades_to_local(content: str) -> None:
    url, _, _ = PROVIDERS["openai"]
    body = recording("openai_chat.json")
    body["choices"][0]["message"]["content"] = content
    respx.post(url).mock(return_value=httpx.Response(200, json=body))
    answer = await assistant("openai").chat_reply(ASK)
    assert answer.generated_by == "local-retrieval"
    assert [p.product_id for p in answer.products] == ["p-shoe"]


@respx.mock
async def test_fenced_json_is_accepted() -> None:
    url, _, _ = PROVIDERS["openai"]
    body = recording("openai_chat.json")
    inner = body["choices"][0]["message"]["content"]
    body["choices"][0]["message"]["content"] = f"Sure!\n```json\n{inner}\n```"
    respx.post(url).mock(return_value=httpx.Response(200, json=body))
    answer = await assistant("openai").chat_reply(ASK)
    assert answer.generated_by == "openai:gpt-4o-mini"


@respx.mock
async def test_recommendations_suggest_and_email_use_the_model_and_stay_grounded() -> None:
    url, _, _ = PROVIDERS["groq"]

    def reply(content: dict[str, Any]) -> httpx.Response:
        body = recording("groq_chat.json")
        body["choices"][0]["message"]["content"] = json.dumps(content)
        return httpx.Response(200, json=body)

    respx.post(url).mock(
        side_effect=[
            reply(
                {
                    "products": [
                        {"product_id": "p-case", "reason": "Protects it"},
                        {"product_id": "p-ghost", "reason": "invented"},
                    ]
                }
            ),
            reply(
                {
                    "products": [{"product_id": "p-shoe", "reason": "Trail"}],
                    "search_tags": ["running"],
                    "search_category": "sports",
                }
            ),
            reply({"subject": "Enjoy your iPhone", "body_html": "<p>Hi</p>", "body_text": "Hi"}),
        ]
    )
    ai = assistant("groq")
    recs = await ai.recommendations("iPhone 15 Pro", None)
    assert [r.product_id for r in recs.recommendations] == ["p-case"]
    suggested = await ai.suggest("shoes for running")
    assert [m.product_id for m in suggested.matches] == ["p-shoe"]
    assert suggested.search_category == "Sports"  # the catalog's spelling
    email, by = await ai.follow_up_email("Yash", "ORD-1", [("p-phone", "iPhone 15 Pro")])
    assert (email.subject, by) == ("Enjoy your iPhone", "groq:llama-3.3-70b-versatile")


def test_a_provider_without_its_key_is_a_start_up_error_not_a_fallback() -> None:
    for provider, original in (("groq", "GROQ_API_KEY"), ("gemini", "GEMINI_API_KEY")):
        with pytest.raises(
            ValidationError,
            match=f"LLM_PROVIDER={provider} needs an API key.*LLM_API_KEY \\(or {original}\\)",
        ):
            Settings(llm_provider=provider, llm_api_key=None)
    assert build_chat(Settings(llm_provider="local")) is None
    assert build_chat(Settings(llm_provider="ollama")) is not None  # no key needed


def test_the_original_key_names_configure_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLM_PROVIDER=groq with the original GROQ_API_KEY answers with groq, not `local`."""
    monkeypatch.setenv("LLM_PROVIDER", "groq")
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    monkeypatch.setenv("OPENAI_API_KEY", "not-for-groq")
    settings = Settings()
    assert settings.llm_api_key == "gsk-test"
    assert any("GROQ_API_KEY read as LLM_API_KEY" in w for w in settings.legacy_warnings)
    chat = build_chat(settings)
    assert chat is not None
    assert chat.label.startswith("groq:")


class ExplodingModel:
    label = "broken:model"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, system: str, user: str) -> str:
        self.calls += 1
        raise KeyError("choices")

    async def close(self) -> None:
        return None


async def test_an_unexpected_provider_exception_degrades_instead_of_failing() -> None:
    from ai_service.llm.resilient import FALLBACK_RESERVE_SECONDS, ResilientChat

    model = ExplodingModel()
    chat = ResilientChat(
        model,
        CallPolicy(
            timeout_seconds=1,
            retry=RetryPolicy(3, 0, 0, reserve_seconds=FALLBACK_RESERVE_SECONDS),
            breaker_failure_threshold=10,
            breaker_reset_seconds=1,
        ),
    )
    answer = await AssistantService(sample_catalog(), chat, Settings()).chat_reply(ASK)
    assert answer.generated_by == "local-retrieval"
    assert model.calls == 1  # not a transient error: no retry


@respx.mock
async def test_llm_latency_and_fallbacks_are_measured() -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    url, reply, _ = PROVIDERS["groq"]
    before = sample("ai_llm_request_duration_seconds_count", provider="groq")
    respx.post(url).mock(return_value=httpx.Response(200, json=recording(reply)))
    await assistant("groq").chat_reply(ASK)
    assert sample("ai_llm_request_duration_seconds_count", provider="groq") == before + 1

    respx.post(url).mock(return_value=httpx.Response(503))
    degraded = sample("ai_answers_degraded_total", **_degraded_labels())
    answer = await assistant("groq").chat_reply(ASK)
    assert answer.generated_by == "local-retrieval"
    assert sample("ai_llm_request_duration_seconds_count", provider="groq") == before + 4
    assert sample("ai_answers_degraded_total", **_degraded_labels()) == degraded + 1


def _degraded_labels() -> dict[str, str]:
    return {"task": "chat", "reason": "unavailable"}


class HangingModel(ExplodingModel):
    label = "hanging:model"

    async def complete(self, system: str, user: str) -> str:
        self.calls += 1
        await asyncio.sleep(30)
        return "{}"


async def test_a_slow_model_leaves_time_for_the_local_answer_within_the_requests_budget() -> None:
    """The gateway gives ai-service a budget (X-Request-Timeout-Ms); the model gets it less the
    fallback reserve, so the shopper gets the local answer instead of the gateway's 504."""
    from ai_service.llm.resilient import FALLBACK_RESERVE_SECONDS, ResilientChat

    model = HangingModel()
    chat = ResilientChat(
        model,
        CallPolicy(
            timeout_seconds=20,
            retry=RetryPolicy(3, 0, 0, reserve_seconds=FALLBACK_RESERVE_SECONDS),
            breaker_failure_threshold=10,
            breaker_reset_seconds=1,
        ),
    )
    budget = FALLBACK_RESERVE_SECONDS + 0.5
    started = time.monotonic()
    with deadlines.deadline_in(budget):
        answer = await AssistantService(sample_catalog(), chat, Settings()).chat_reply(ASK)
    assert answer.generated_by == "local-retrieval"
    assert time.monotonic() - started < budget
    assert model.calls == 1
