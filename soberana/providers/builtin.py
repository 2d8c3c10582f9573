"""The built-in providers, registered like any third-party plugin's."""

from __future__ import annotations

from soberana.plugins import hookimpl
from soberana.providers.llamacpp import LlamaCppProvider
from soberana.providers.local_embeddings import LocalEmbeddingsProvider
from soberana.providers.mock import MockProvider
from soberana.providers.openai_compat import OpenAICompatProvider
from soberana.providers.registry import ProviderRegistry


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    for provider in (OpenAICompatProvider, LlamaCppProvider, LocalEmbeddingsProvider, MockProvider):
        registry.register(provider)
