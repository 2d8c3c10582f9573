"""Model providers: the plugins that actually produce completions and embeddings.

A provider kind (``openai_compat``, ``llamacpp``, ``local_embeddings``, ``mock``, or one from a
third-party plugin) is a :class:`~soberana.providers.base.Provider` subclass registered with the
:class:`~soberana.providers.registry.ProviderRegistry` through the ``register_providers`` hook.
A *deployment* is one configured instance of a kind, serving a public model alias.
"""
