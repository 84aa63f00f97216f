"""LlamaIndex models that talk to the loopback fake OpenAI server through the real ``openai`` client.

``FakeOpenAILLM`` is a minimal OpenAI-backed ``FunctionCallingLLM`` (what ``llama-index-llms-openai`` does,
without its pin on openai < 3): chat and completion, sync and async, streamed and not, with function tools; its
responses keep the OpenAI answer in ``raw`` as the real integration does. ``FakeOpenAIEmbedding`` embeds
through ``client.embeddings.create``. The OpenAI instrumentor sees every call these make.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import openai
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection


def _to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        role = m.role.value if isinstance(m.role, MessageRole) else str(m.role)
        item: dict[str, Any] = {"role": role, "content": m.content or ""}
        calls = m.additional_kwargs.get("tool_calls")
        if calls:
            item["tool_calls"] = calls
        if role == "tool":
            item["tool_call_id"] = m.additional_kwargs.get("tool_call_id")
        out.append(item)
    return out


class FakeOpenAILLM(FunctionCallingLLM):
    model: str = "gpt-4o-mini"
    api_base: str = ""
    api_key: str = "test-key"

    @classmethod
    def class_name(cls) -> str:
        return "openai_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, is_function_calling_model=True, model_name=self.model)

    def _client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.api_base, api_key=self.api_key, max_retries=0)

    def _aclient(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.api_base, api_key=self.api_key, max_retries=0)

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": _to_openai(messages)}
        if kwargs.get("tools"):
            request["tools"] = kwargs["tools"]
        return request

    @staticmethod
    def _response(completion: Any) -> ChatResponse:
        message = completion.choices[0].message
        extra: dict[str, Any] = {}
        if message.tool_calls:
            extra["tool_calls"] = [c.model_dump() for c in message.tool_calls]
        return ChatResponse(message=ChatMessage(role="assistant", content=message.content or "",
                                                additional_kwargs=extra), raw=completion)

    def _call(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self._client() as client:
            return self._response(client.chat.completions.create(**self._request(messages, kwargs)))

    async def _acall(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        async with self._aclient() as client:
            return self._response(await client.chat.completions.create(**self._request(messages, kwargs)))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._call(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._acall(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        response = self._call(messages, **kwargs)

        def gen() -> ChatResponseGen:
            yield ChatResponse(message=response.message, delta="", raw=None)
            yield response

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        response = await self._acall(messages, **kwargs)

        async def gen() -> ChatResponseAsyncGen:
            yield ChatResponse(message=response.message, delta="", raw=None)
            yield response

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self._call([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = await self._acall([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        response = self._call([ChatMessage(role="user", content=prompt)])
        response = CompletionResponse(text=response.message.content or "", raw=response.raw)  # type: ignore[assignment]

        def gen() -> CompletionResponseGen:
            yield response

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False,
                               **kwargs: Any) -> CompletionResponseAsyncGen:
        response = await self._acall([ChatMessage(role="user", content=prompt)])
        response = CompletionResponse(text=response.message.content or "", raw=response.raw)  # type: ignore[assignment]

        async def gen() -> CompletionResponseAsyncGen:
            yield response

        return gen()

    def _prepare_chat_with_tools(self, tools: Sequence[Any], user_msg: Any = None,
                                 chat_history: list[ChatMessage] | None = None, verbose: bool = False,
                                 allow_parallel_tool_calls: bool = False, tool_required: bool = False,
                                 **kwargs: Any) -> dict[str, Any]:
        messages = list(chat_history or [])
        if user_msg:
            messages.append(ChatMessage(role="user", content=user_msg) if isinstance(user_msg, str) else user_msg)
        return {"messages": messages, "tools": [t.metadata.to_openai_tool() for t in tools]}

    def get_tool_calls_from_response(self, response: ChatResponse, error_on_no_tool_call: bool = True,
                                     **kwargs: Any) -> list[ToolSelection]:
        calls = response.message.additional_kwargs.get("tool_calls") or []
        return [ToolSelection(tool_id=c["id"], tool_name=c["function"]["name"],
                              tool_kwargs=json.loads(c["function"]["arguments"] or "{}")) for c in calls]


class FakeOpenAIEmbedding(BaseEmbedding):
    model_name: str = "text-embedding-3-small"
    api_base: str = ""

    @classmethod
    def class_name(cls) -> str:
        return "OpenAIEmbedding"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        with openai.OpenAI(base_url=self.api_base, api_key="k", max_retries=0) as client:
            result = client.embeddings.create(model=self.model_name, input=texts)
        return [d.embedding for d in result.data]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)
