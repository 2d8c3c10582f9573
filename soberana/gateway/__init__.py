"""The model gateway: an OpenAI-compatible API with routing, quotas, priority and usage metering."""
