"""The staff workspace: a civil servant's saved conversations with the models (history, reopen, delete)."""
