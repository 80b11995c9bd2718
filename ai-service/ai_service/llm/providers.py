"""The hosted and local-server providers: Groq (official SDK), any OpenAI-compatible
endpoint, Ollama and Gemini (their REST APIs over httpx). Each asks for a JSON answer.

The Groq SDK is imported by GroqChat only: with any other provider (the default is `local`)
it is never loaded, ~9 MB of RSS a running ai-service does not carry."""

from typing import Any

import httpx

from ai_service.llm.base import LLMError, status_is_retryable


def _http_error(provider: str, exc: Exception) -> LLMError:
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return LLMError(
            f"{provider} answered HTTP {status}",
            retryable=status_is_retryable(status),
            status=status,
        )
    if isinstance(exc, httpx.TimeoutException):
        return LLMError(f"{provider} timed out", retryable=True)
    if isinstance(exc, httpx.TransportError):
        return LLMError(f"{provider} unreachable: {type(exc).__name__}", retryable=True)
    return LLMError(f"{provider} answered something unexpected: {exc}", retryable=False)


class GroqChat:
    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str,
        timeout_seconds: float,
        temperature: float,
        max_tokens: int,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        from groq import AsyncGroq

        # Retries are ours (chassis.resilience, with the breaker): the SDK's own are off.
        self.client = AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=0,
            http_client=http_client,
        )

    @property
    def label(self) -> str:
        return f"groq:{self.model}"

    async def complete(self, system: str, user: str) -> str:
        from groq import APIConnectionError, APIStatusError, APITimeoutError

        try:
            reply = await self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                response_format={"type": "json_object"},
            )
        except APIStatusError as exc:
            raise LLMError(
                f"groq answered HTTP {exc.status_code}",
                retryable=status_is_retryable(exc.status_code),
                status=exc.status_code,
            ) from exc
        except APITimeoutError as exc:
            raise LLMError("groq timed out", retryable=True) from exc
        except APIConnectionError as exc:
            raise LLMError("groq unreachable", retryable=True) from exc
        content = reply.choices[0].message.content if reply.choices else None
        if not content:
            raise LLMError("groq returned no content", retryable=False)
        return content

    async def close(self) -> None:
        await self.client.close()


class _HttpChat:
    provider = "http"

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        timeout_seconds: float,
        temperature: float,
        max_tokens: int,
        headers: dict[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, headers=headers, transport=transport
        )

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    async def _post(
        self, path: str, body: dict[str, Any], params: dict[str, str] | None = None
    ) -> Any:
        try:
            reply = await self.http.post(path, json=body, params=params)
            reply.raise_for_status()
            return reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _http_error(self.provider, exc) from exc

    async def close(self) -> None:
        await self.http.aclose()


class OpenAICompatibleChat(_HttpChat):
    """POST {base}/chat/completions: OpenAI, vLLM, llama.cpp server, LM Studio, ..."""

    provider = "openai"

    def __init__(self, *, api_key: str | None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(headers=headers, **kwargs)

    async def complete(self, system: str, user: str) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "response_format": {"type": "json_object"},
        }
        data = await self._post("/chat/completions", body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                "openai-compatible reply has no choices[0].message.content", retryable=False
            ) from exc
        if not isinstance(content, str) or not content:
            raise LLMError("openai-compatible reply content is empty", retryable=False)
        return content


class OllamaChat(_HttpChat):
    """POST {base}/api/chat with stream false and format json."""

    provider = "ollama"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(headers={}, **kwargs)

    async def complete(self, system: str, user: str) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "stream": False,
            "format": "json",
            "options": {"temperature": self.temperature, "num_predict": self.max_tokens},
        }
        data = await self._post("/api/chat", body)
        try:
            content = data["message"]["content"]
        except (KeyError, TypeError) as exc:
            raise LLMError("ollama reply has no message.content", retryable=False) from exc
        if not isinstance(content, str) or not content:
            raise LLMError("ollama reply content is empty", retryable=False)
        return content


class GeminiChat(_HttpChat):
    """POST {base}/v1beta/models/{model}:generateContent with a JSON response type."""

    provider = "gemini"

    def __init__(self, *, api_key: str, **kwargs: Any) -> None:
        super().__init__(headers={"x-goog-api-key": api_key}, **kwargs)

    async def complete(self, system: str, user: str) -> str:
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": user}]}],
            "generationConfig": {
                "temperature": self.temperature,
                "maxOutputTokens": self.max_tokens,
                "responseMimeType": "application/json",
            },
        }
        data = await self._post(f"/v1beta/models/{self.model}:generateContent", body)
        try:
            parts = data["candidates"][0]["content"]["parts"]
            content = "".join(str(p.get("text", "")) for p in parts)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                "gemini reply has no candidates[0].content.parts", retryable=False
            ) from exc
        if not content:
            raise LLMError("gemini reply content is empty", retryable=False)
        return content
