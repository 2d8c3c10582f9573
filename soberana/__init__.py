"""Soberana: a self-hostable AI platform that a public administration owns and runs itself."""

__version__ = "0.1.0.dev0"
