"""Governance: the organisation's register of AI use cases, each approved by a second person before it
runs (see ``docs/governance.md``)."""
