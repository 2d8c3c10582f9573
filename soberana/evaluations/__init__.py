"""Evaluations and red-teaming of assistants and models, run through the gateway (docs/evaluations.md)."""
