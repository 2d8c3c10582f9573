"""The registry of provider kinds, filled by plugins through the ``register_providers`` hook."""

from __future__ import annotations

from soberana.errors import ConfigurationError
from soberana.providers.base import Provider, ProviderContext
from soberana.settings import DeploymentConfig


class ProviderRegistry:
    """Maps a provider kind (``openai_compat``…) to its class."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Provider]] = {}

    def register(self, provider: type[Provider]) -> None:
        if provider.kind in self._kinds and self._kinds[provider.kind] is not provider:
            raise ConfigurationError(f"two plugins register the provider kind {provider.kind!r}")
        self._kinds[provider.kind] = provider

    def kinds(self) -> dict[str, type[Provider]]:
        return dict(self._kinds)

    def create(self, config: DeploymentConfig, context: ProviderContext) -> Provider:
        cls = self._kinds.get(config.provider)
        if cls is None:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise ConfigurationError(
                f"deployment {config.alias!r}: unknown provider {config.provider!r} (known: {known})"
            )
        unserved = sorted(set(config.capabilities) - cls.serves())
        if unserved:
            raise ConfigurationError(
                f"deployment {config.alias!r}: the {config.provider} provider does not serve {', '.join(unserved)} "
                f"(it serves {', '.join(sorted(cls.serves())) or 'nothing'}); set `capabilities` accordingly"
            )
        missing = cls.available()
        if missing:
            raise ConfigurationError(f"deployment {config.alias!r}: {missing}")
        try:
            return cls(config, context)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
