"""The workspace API's objects: saved conversations and their turns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Turn(BaseModel):
    """One message of a saved conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: str
    pii: str = Field("", description="What data protection did to this message (the `x-soberana-pii` header).")
    deployment: str = Field("", description="The deployment that wrote an assistant message.")


class ConversationSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["workspace.conversation"] = "workspace.conversation"
    id: str
    title: str
    model: str
    classification: str | None
    created_at: datetime
    updated_at: datetime


class ConversationOut(ConversationSummary):
    turns: list[Turn]
