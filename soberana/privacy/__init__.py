"""Data protection: personal data found and pseudonymised before it leaves, policies, the vault, retention.

The same shape as every capability — ``models``, ``schemas``, ``repo``, ``service``, ``routes``, ``ports`` —
with the parts of its service in modules of their own:

* :mod:`soberana.privacy.entities` — what a finding is, and how overlapping findings are reconciled;
* :mod:`soberana.privacy.detectors` — the detectors (validated patterns, names, custom) and their registry;
* :mod:`soberana.privacy.engine` — :class:`~soberana.privacy.engine.PiiEngine`, detection over every detector;
* :mod:`soberana.privacy.builtin` — the built-in detectors as a plugin of the ``register_pii_detectors`` hook;
* :mod:`soberana.privacy.policy` — which rules apply to a request: the levels above it as floors;
* :mod:`soberana.privacy.policies` — setting policies, refused where they would loosen a floor;
* :mod:`soberana.privacy.pseudonyms` and :mod:`soberana.privacy.vault` — placeholders and their values;
* :mod:`soberana.privacy.retention` — retention periods and the purge over every capability's data;
* :mod:`soberana.privacy.service` — :class:`~soberana.privacy.service.PrivacyService`, which joins them.
"""
