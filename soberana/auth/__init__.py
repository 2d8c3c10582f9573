"""Tenants, people and keys: organisations, users, service accounts, API keys and sign-in."""
