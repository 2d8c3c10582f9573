"""Request bodies of the OpenAI-compatible API, and the admin API's gateway objects.

Model API requests are validated for the fields Soberana acts on; other OpenAI parameters (and a
provider's own, such as ``top_k``) pass through to the deployment unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from soberana.settings import DeploymentConfig


class Passthrough(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(Passthrough):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(Passthrough):
    include_usage: bool = False


class ChatCompletionRequest(Passthrough):
    model: str = Field(min_length=1, max_length=200, description="A model id from `GET /v1/models`.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is supported.")


class EmbeddingsRequest(Passthrough):
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[int] | list[list[int]] = Field(description="Text(s) to embed.")
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1, le=65_536)
    input_type: Literal["query", "passage"] | None = Field(
        None, description="Soberana extension: embed as a search query or as a document (E5-style models)."
    )


class RerankRequest(Passthrough):
    model: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=20_000)
    documents: list[str] = Field(min_length=1, max_length=1000, description="Texts to score against the query.")
    top_n: int | None = Field(None, ge=1, le=10_000)


# -- admin: deployments -----------------------------------------------------------------------------


class DeploymentOut(BaseModel):
    object: Literal["deployment"] = "deployment"
    id: str | None = Field(description="Set for deployments managed in the admin API; null for those in settings.")
    name: str
    source: Literal["settings", "demo", "admin"]
    enabled: bool
    config: DeploymentConfig
    cooled_down: bool
    in_flight: int
    waiting: int
    problem: str | None = Field(
        None, description="Why a stored deployment is left out (saved under rules it no longer meets)."
    )


class DeploymentCreate(DeploymentConfig):
    model_config = ConfigDict(extra="forbid")


class DeploymentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    config: DeploymentConfig | None = None


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["priority", "round_robin", "least_busy"] = "priority"
    description: str = Field("", max_length=500)


# -- admin: quotas ----------------------------------------------------------------------------------


MAX_COUNT = 2_147_483_647  # what an integer column holds on every database


class QuotaValues(BaseModel):
    """Limits; omit (null) a field for no limit of that kind."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(None, ge=0, le=MAX_COUNT)
    tokens_per_minute: int | None = Field(None, ge=0, le=MAX_COUNT)
    tokens_per_day: int | None = Field(None, ge=0, le=MAX_COUNT)
    monthly_budget: float | None = Field(None, ge=0, le=1e12, description="In the installation's currency.")
    max_concurrent: int | None = Field(None, ge=0, le=1_000_000)


class QuotaOut(QuotaValues):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    object: Literal["quota"] = "quota"
    id: str
    subject_type: Literal["organisation", "api_key"]
    subject_id: str
    org_id: str
    updated_at: datetime


# -- usage ------------------------------------------------------------------------------------------


class UsageRow(BaseModel):
    group: str = Field(description="The day, model, organisation or key this row adds up.")
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    energy_wh: float
    latency_ms_avg: float


class UsageReport(BaseModel):
    object: Literal["usage_report"] = "usage_report"
    group_by: str
    start_date: date
    end_date: date
    currency: str
    data: list[UsageRow]
    totals: UsageRow
