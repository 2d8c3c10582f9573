"""The settings made of several values: a model deployment, a data classification's rule, a model alias
(re-exported by :mod:`soberana.settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Sovereignty = Literal["on_premises", "national_cloud", "foreign_cloud"]
PriorityClass = Literal["critical", "interactive", "batch"]


class DeploymentConfig(BaseModel):
    """One place a model is served: an upstream endpoint or an embedded model, under a public alias."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(description="Public model name clients ask for (several deployments may share one).")
    name: str | None = Field(None, description="Unique name of this deployment (default: `<alias>@<provider>`).")
    provider: str = Field(description="Provider kind: `openai_compat`, `llamacpp`, `local_embeddings`, `mock`.")
    model: str = Field("", description="Model name at the provider (e.g. `gpt-4o-mini`); a file path for llamacpp.")
    base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible API, ending in `/v1`.")
    api_key_env: str | None = Field(
        None,
        max_length=100,
        pattern=r"^SOBERANA_UPSTREAM_KEY_[A-Z0-9_]+$",
        description="Name of the environment variable holding the upstream API key (never the key itself); it must "
        "start with `SOBERANA_UPSTREAM_KEY_`, so no other variable of the server can be sent to an upstream.",
    )
    api_version: str | None = Field(None, description="Azure OpenAI `api-version` query parameter.")
    sovereignty: Sovereignty = Field("on_premises", description="Where the data goes when this deployment is used.")
    capabilities: list[Literal["chat", "embeddings", "rerank"]] = Field(
        default_factory=lambda: ["chat"],  # type: ignore[arg-type]
        description="What the deployment serves.",
    )
    streaming: bool = Field(True, description="Whether it can stream chat completions.")
    tools: bool = Field(False, description="Whether it supports tool calls.")
    context_length: int = Field(8192, ge=1, description="Context window in tokens.")
    order: int = Field(0, description="Rank for the priority strategy: lower is tried first.")
    weight: int = Field(1, ge=1, description="Share for round-robin.")
    max_concurrency: int = Field(64, ge=1, description="Requests in flight at once; more wait by priority class.")
    price_input_per_mtok: float = Field(0.0, ge=0, description="Price per million input tokens, in `currency`.")
    price_output_per_mtok: float = Field(0.0, ge=0, description="Price per million output tokens, in `currency`.")
    params_billion: float | None = Field(
        None, gt=0, description="Model size in billions of parameters (the model record; the energy estimate)."
    )
    label: str | None = Field(None, description="A note shown with the model (e.g. 'demo only').")
    supplier: str | None = Field(
        None,
        max_length=200,
        description="Legal name of the supplier in the governance catalogue that runs or provides it; empty: the "
        "installation runs it itself. With enforcement on, traffic bound to a use case is not routed to a "
        "deployment whose supplier is not in the catalogue, not approved or restricted, or overdue for review.",
    )
    licence: str | None = Field(None, max_length=200, description="The model's licence (e.g. `Apache-2.0`).")
    model_card: str | None = Field(None, max_length=2000, description="Link to the model card.")
    languages: list[str] = Field(
        default_factory=list, max_length=100, description="Languages the model is meant for (e.g. `en`, `es`)."
    )


PrivacyMode = Literal["off", "detect", "pseudonymise", "redact", "block"]
ALL_SOVEREIGNTY: tuple[Sovereignty, ...] = ("on_premises", "national_cloud", "foreign_cloud")


class ClassificationRule(BaseModel):
    """What happens to personal data in a request of one data classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: PrivacyMode = Field(
        "pseudonymise",
        description="`off`; `detect` (count what is found, change nothing); `pseudonymise` (typed placeholders, "
        "originals restored in the answer); `redact` (placeholders without numbers, nothing restored); `block` "
        "(refuse the request, naming the kinds of data found).",
    )
    sovereignty: list[Sovereignty] = Field(
        default_factory=lambda: list(ALL_SOVEREIGNTY),
        description="Deployment `sovereignty` values that may receive data of this classification; the router "
        "skips the others and refuses the request when none is left.",
    )
    on_premises_too: bool = Field(
        False,
        description="Apply `mode` to on-premises deployments as well. By default data sent to an `on_premises` "
        "deployment is not changed: it does not leave the administration.",
    )


def _default_privacy_rules() -> dict[str, ClassificationRule]:
    return {
        "public": ClassificationRule(mode="detect"),
        "internal": ClassificationRule(mode="pseudonymise"),
        "confidential": ClassificationRule(mode="pseudonymise", sovereignty=["on_premises", "national_cloud"]),
        "secret": ClassificationRule(mode="pseudonymise", sovereignty=["on_premises"]),
    }


DEFAULT_PROTECTED_LABELS = (
    "PERSON",
    "ADDRESS",
    "EMAIL",
    "PHONE",
    "ID_NUMBER",
    "IBAN",
    "CREDIT_CARD",
    "IP_ADDRESS",
)


class AliasConfig(BaseModel):
    """How requests for one public model name are spread over its deployments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The public model name.")
    strategy: Literal["priority", "round_robin", "least_busy"] = Field(
        "priority", description="`priority`: lowest `order` first, falling back; `round_robin`; `least_busy`."
    )
    description: str = Field("", description="Shown in `GET /v1/models`.")
