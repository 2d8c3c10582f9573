"""People of two nested organisations with keys for the register of AI use cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from soberana.auth.principal import Role, Scope, cli_principal
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from soberana.governance.service import GovernanceService
from soberana.settings import Settings
from soberana.wiring import PlatformFacts
from tests.conftest import Tenant, make_tenant

COMPLETE = {
    "name": "Benefit letters assistant",
    "description": "Drafts replies to letters about housing benefit for a caseworker to check and send.",
    "purpose": "Answer letters faster.",
    "public_benefit": "Residents get an answer within days instead of weeks.",
    "owner": "Housing benefit team",
    "senior_responsible_owner": "Director of Housing",
    "contact_email": "ai-register@agency.example",
    "affected_people": "Residents who write about housing benefit.",
    "human_intervention": "A caseworker reads, edits and sends every reply.",
    "legal_basis": "Housing Benefit Regulations 2006, reg. 90.",
    "models": ["mock-chat"],
}


AIA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "governance" / "aia-eia-js"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The installation's settings, with Canada's AIA questionnaire from the shared data."""
    return settings.model_copy(update={"governance_aia_dir": str(AIA_DIR)})


@dataclass
class Keys:
    """Bearer headers of the people who write and review use cases."""

    tenant: Tenant
    writer: dict[str, str]  # a staff member
    colleague: dict[str, str]  # another staff member
    admin: dict[str, str]  # an administrator of the organisation
    auditor: dict[str, str]


async def _key(app: Any, user_id: str, scopes: list[Scope]) -> dict[str, str]:
    platform = app.state.platform
    async with platform.db.write_session() as session:
        _, plaintext = await platform.admin.create_key(
            session, cli_principal("pytest"), ApiKeyCreate(name="governance", user_id=user_id, scopes=scopes)
        )
    return {"Authorization": f"Bearer {plaintext}"}


async def _person(app: Any, tenant: Tenant, name: str, role: Role) -> str:
    platform = app.state.platform
    async with platform.db.write_session() as session:
        user = await platform.admin.create_user(
            session,
            cli_principal("pytest"),
            UserCreate(org_id=tenant.org_id, email=f"{name}@{tenant.slug}.example", display_name=name, role=role),
        )
    return user.id


async def keys_for(app: Any, tenant: Tenant) -> Keys:
    colleague = await _person(app, tenant, "colleague", Role.STAFF)
    return Keys(
        tenant=tenant,
        writer=await _key(app, tenant.staff_id, [Scope.GOVERNANCE]),
        colleague=await _key(app, colleague, [Scope.GOVERNANCE]),
        admin=await _key(app, tenant.admin_id, [Scope.GOVERNANCE, Scope.ADMIN]),
        auditor=await _key(app, tenant.auditor_id, [Scope.GOVERNANCE, Scope.AUDIT]),
    )


@pytest.fixture
async def ministry(app: Any) -> Keys:
    return await keys_for(app, await make_tenant(app, "ministry"))


@pytest.fixture
async def agency(app: Any, ministry: Keys) -> Keys:
    """An agency inside the ministry."""
    return await keys_for(app, await make_tenant(app, "agency", parent_id=ministry.tenant.org_id))


@pytest.fixture
async def operator(app: Any) -> dict[str, str]:
    """A platform administrator's key with the governance scope."""
    platform = app.state.platform
    root = cli_principal("pytest")
    async with platform.db.write_session() as session:
        org = await platform.admin.create_organisation(
            session, root, OrganisationCreate(slug="platform-team", name="Platform team")
        )
    async with platform.db.write_session() as session:
        user = await platform.admin.create_user(
            session,
            root,
            UserCreate(org_id=org.id, email="ops@platform.example", display_name="Ops", role=Role.PLATFORM_ADMIN),
        )
    return await _key(app, user.id, [Scope.GOVERNANCE, Scope.ADMIN])


def rebuilt(platform: Any, **changes: Any) -> GovernanceService:
    """The platform's register service built again with some of its inputs changed (a newer tree, no AIA)."""
    current = platform.governance
    inputs = {
        "aia_dir": current.aia_dir,
        "ai_act_dates": current.ai_act_dates,
        "ai_act_tree": current.ai_act_tree,
    } | changes
    return GovernanceService(
        platform.db,
        platform.admin,
        inputs["aia_dir"],
        inputs["ai_act_dates"],
        inputs["ai_act_tree"],
        collections=platform.knowledge,
        feed=platform.governance_feed,
        facts=PlatformFacts(platform),
        public_readers=current.transparency.readers,
        evidence=current.evidence,
    )
