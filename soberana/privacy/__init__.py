"""Data protection: personal data found, and (coming with issue 5) pseudonymised before it leaves.

* :mod:`soberana.privacy.entities` — what a finding is, and how overlapping findings are reconciled;
* :mod:`soberana.privacy.detectors` — the detectors (validated patterns, names, custom) and their registry;
* :mod:`soberana.privacy.engine` — :class:`~soberana.privacy.engine.PiiEngine`, detection over every detector;
* :mod:`soberana.privacy.builtin` — the built-in detectors as a plugin of the ``register_pii_detectors`` hook.
"""
