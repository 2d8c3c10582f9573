"""``soberana demo seed`` and ``soberana demo knowledge``: what `make run` creates for a first look —
the demo organisation, its administrator and API key, and a public collection of service pages of a
fictional municipality (Velmora) in English, Spanish and Icelandic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from soberana.auth.keys import display_prefix
from soberana.auth.principal import Role, Scope
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from soberana.cli.context import console, ctx, fail
from soberana.errors import Conflict

app = typer.Typer(help="Demo data for a first look.", no_args_is_help=True)

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Velmora (fictional demo municipality)"
DEMO_COLLECTION = "city-services"
DEMO_CONTENT = Path(__file__).resolve().parent.parent / "knowledge" / "demo_content"
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_KEY_NAME = "demo-admin"


@app.command()
def seed(typer_ctx: typer.Context) -> None:
    """Create the demo organisation, an admin user and an admin API key. Safe to run twice.

    The key is printed once, when it is created; a second run keeps it and prints only its prefix.
    """
    context = ctx(typer_ctx)
    admin, principal, origin = context.admin, context.principal, context.origin

    async def go() -> tuple[Any, str | None, list[str]]:
        done: list[str] = []
        async with context.db.write_session() as session:
            orgs, _ = await admin.list_organisations(session, principal, limit=500)
            org = next((o for o in orgs if o.slug == DEMO_ORG_SLUG), None)
            if org is None:
                org = await admin.create_organisation(
                    session, principal, OrganisationCreate(slug=DEMO_ORG_SLUG, name=DEMO_ORG_NAME, kind="city"), origin
                )
                done.append(f"organisation {org.slug}")
            users, _ = await admin.list_users(session, principal, limit=500, org_id=org.id)
            user = next((u for u in users if u.email == DEMO_ADMIN_EMAIL), None)
            if user is None:
                user = await admin.create_user(
                    session,
                    principal,
                    UserCreate(
                        org_id=org.id,
                        email=DEMO_ADMIN_EMAIL,
                        display_name="Demo administrator",
                        role=Role.PLATFORM_ADMIN,
                    ),
                    origin,
                )
                done.append(f"user {user.email}")
            keys, _ = await admin.list_keys(session, principal, limit=500, user_id=user.id)
            existing = next((k for k in keys if k.name == DEMO_KEY_NAME and k.revoked_at is None), None)
            if existing is not None:
                return existing, None, done
            key, plaintext = await admin.create_key(
                session,
                principal,
                ApiKeyCreate(
                    name=DEMO_KEY_NAME,
                    user_id=user.id,
                    scopes=[Scope.ADMIN, Scope.AUDIT, Scope.INFERENCE, Scope.KNOWLEDGE],
                ),
                origin,
            )
            done.append(f"API key {key.name}")
            return key, plaintext, done

    key, plaintext, done = context.run(go())
    console.print(f"Demo data: {'created ' + ', '.join(done) if done else 'already present'}.", highlight=False)
    if plaintext:
        console.print("\n[bold]Admin API key for the demo organisation — shown only this once, store it now:[/]")
        console.print(f"  {plaintext}\n", highlight=False, soft_wrap=True)
        console.print(
            f"Try: curl -H 'Authorization: Bearer {plaintext}' "
            f"http://{context.settings.host}:{context.settings.port}/admin/me",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"The demo admin key {display_prefix(key.prefix)} exists (it was shown when created). "
            "Make another with: soberana keys create --org demo --name NAME --user "
            f"{DEMO_ADMIN_EMAIL} --scope admin --scope audit",
            highlight=False,
        )


@app.command()
def knowledge(
    typer_ctx: typer.Context,
    embed: bool = typer.Option(True, help="Embed the passages now (else the server does it in the background)."),
) -> None:
    """Create the public collection `city-services` of the demo organisation and ingest the demo pages.

    21 service pages of Velmora, a fictional municipality, in English, Spanish and Icelandic (written
    by the project, CC0). Safe to run twice: unchanged pages are skipped.
    """
    from soberana.cli.knowledge import ingest_paths, knowledge_service
    from soberana.knowledge.schemas import CollectionCreate

    context = ctx(typer_ctx)
    admin, principal, origin = context.admin, context.principal, context.origin
    pages = [DEMO_CONTENT / language for language in ("en", "es", "is")]

    async def go() -> dict[str, Any]:
        async with knowledge_service(context) as platform:
            service = platform.knowledge
            async with context.db.write_session() as session:
                org = await admin.organisation_by_slug(session, principal, DEMO_ORG_SLUG)
                existing = [
                    c
                    for c in await service.list_collections(session, principal)
                    if c.org_id == org.id and c.name == DEMO_COLLECTION
                ]
                collection = existing[0] if existing else None
                if collection is None:
                    body = CollectionCreate(
                        name=DEMO_COLLECTION,
                        title="Velmora municipal services (fictional demo)",
                        description="Service pages of Velmora, a fictional municipality, written by the Soberana "
                        "project for demonstration (CC0). Not real administrative information.",
                        visibility="public",
                        org_id=org.id,
                    )
                    collection = await service.create_collection(session, principal, body, origin)
            return await ingest_paths(context, platform, collection, pages, embed=embed, root=DEMO_CONTENT)

    result = context.run(go())
    job = result["job"]
    console.print(
        f"Demo collection {DEMO_ORG_SLUG}/{DEMO_COLLECTION}: {job.documents_added} pages added, "
        f"{job.documents_unchanged} unchanged, {result['embedded']} passages embedded.",
        highlight=False,
    )


#: The demo's own uses of AI, registered, assessed and approved by ``soberana demo governance`` so that
#: the demo keeps working with ``governance_enforcement = "enforce"``.
DEMO_USE_CASES = {
    "assistant": {
        "name": "Velmora city services assistant",
        "description": "Answers residents' questions about municipal services from the city's published "
        "service pages, quoting them, in English, Spanish and Icelandic; says so when the pages do not cover a "
        "question and offers a person instead.",
        "purpose": "Let residents find official information on city services at any hour, in their language.",
        "public_benefit": "Quicker, cited answers about permits, fees and collections, with a person on request.",
        "owner": "Velmora digital services team (fictional)",
        "senior_responsible_owner": "Head of Digital Services (fictional)",
        "contact_email": "ai-register@demo.example",
        "affected_people": "Residents and visitors who ask the assistant; no decision is taken about them.",
        "human_intervention": "Every answer cites the pages it rests on; residents can ask for a person, and "
        "staff review hand-offs and feedback every week.",
        "legal_basis": "Public task of informing residents about municipal services (fictional demo).",
        "data_categories": ["questions typed by residents"],
    },
    "staff": {
        "name": "Staff use of models through the gateway",
        "description": "Staff draft, summarise and search internal documents with the installation's models; "
        "staff check every output before it is used.",
        "purpose": "Save staff time on drafting and reading, with the organisation's data protection applied.",
        "public_benefit": "Faster replies to residents; staff time for casework.",
        "owner": "Velmora digital services team (fictional)",
        "senior_responsible_owner": "Head of Digital Services (fictional)",
        "contact_email": "ai-register@demo.example",
        "affected_people": "Staff who use it; residents whose letters staff answer with its help.",
        "human_intervention": "A member of staff reads, edits and takes responsibility for every text used.",
        "legal_basis": "The organisation's internal administration (fictional demo).",
        "data_categories": ["internal documents", "case notes (pseudonymised before they leave)"],
    },
}
_DEMO_AI_ACT = {  # a deployer of an AI system outside Annex III that talks with people: Art. 50 duties
    "ai_system": "yes",
    "general_purpose": "no",
    "role": "deployer",
    "prohibited_practice": "none",
    "annex_i_product": "no",
    "annex_iii_area": "none",
    "interacts": "yes",
    "synthetic_content": "no",
    "emotion_or_biometric": "no",
    "deepfake_or_public_text": "no",
}


@app.command()
def governance(typer_ctx: typer.Context) -> None:
    """Register the demo's uses of AI (the citizen assistant, staff use of the gateway), assess them,
    approve them, bind the demo key, the demo collection and the demo workspace to them, and publish the
    assistant's transparency record.

    Run after ``demo seed`` and ``demo knowledge``. The command line registers, assesses and submits; the
    approval, a second pair of eyes, is recorded in the name of the demo administrator (demo data only).
    Safe to run twice.
    """
    context = ctx(typer_ctx)
    done = context.run(_seed_governance(context))
    console.print(f"Demo register: {', '.join(done) if done else 'already present'}.", highlight=False)


async def _seed_governance(context: Any) -> list[str]:
    from soberana.auth.principal import ROLE_SCOPES, Principal
    from soberana.governance.lifecycle import Action
    from soberana.governance.schemas import ReviewAction, UseCaseCreate

    platform, principal, origin = context.platform, context.principal, context.origin
    service = platform.governance
    done: list[str] = []
    async with context.db.session() as session:
        org = await context.admin.organisation_by_slug(session, principal, DEMO_ORG_SLUG)
        users, _ = await context.admin.list_users(session, principal, limit=500, org_id=org.id)
        user = next(u for u in users if u.email == DEMO_ADMIN_EMAIL)
        keys, _ = await context.admin.list_keys(session, principal, limit=500, user_id=user.id)
        key = next(k for k in keys if k.name == DEMO_KEY_NAME and k.revoked_at is None)
        collection = next(
            c
            for c in await platform.knowledge.list_collections(session, principal)
            if c.org_id == org.id and c.name == DEMO_COLLECTION
        )
    reviewer = Principal(
        kind="user",
        id=user.id,
        label=user.email,
        org_id=user.org_id,
        role=Role(user.role),
        scopes=ROLE_SCOPES[Role(user.role)],
        org_slug=DEMO_ORG_SLUG,
    )
    models = [entry.alias for entry in platform.gateway_service.catalog.entries()]
    registered = {e.use_case.name: e for e in await service.list_use_cases(principal, limit=200)}
    bindings = {
        "assistant": [("collection", collection.id)],
        "staff": [("api_key", key.id), ("workspace", org.id)],
    }
    for part, fields in DEMO_USE_CASES.items():
        entry = registered.get(str(fields["name"]))
        if entry is None:
            entry = await service.create(
                principal, UseCaseCreate.model_validate(fields | {"org_id": org.id, "models": models}), origin
            )
            done.append(f"use case {fields['name']!r}")
        uc = entry.use_case.id
        if entry.use_case.status == "draft":
            await service.assess_ai_act(principal, uc, dict(_DEMO_AI_ACT), {}, origin)
            await service.act(principal, uc, ReviewAction(action=Action.SUBMIT), origin)
        entry = await service.get(principal, uc)
        if entry.use_case.status == "in_review" or entry.use_case.submitted_version is not None:
            version = entry.use_case.submitted_version
            try:
                await service.act(reviewer, uc, ReviewAction(action=Action.APPROVE, version=version), origin)
            except Conflict as refused:
                if refused.code != "evaluation_evidence_missing":
                    raise
                fail(
                    f"{refused.message} Run each suite with `soberana eval run SUITE --use-case {uc}`, or seed the "
                    "demo with SOBERANA_EVALUATIONS_GATE=warn (as `make run` does: the gaps are recorded)."
                )
            await service.act(reviewer, uc, ReviewAction(action=Action.GO_LIVE), origin)
            done.append(f"{fields['name']!r} approved and live")
        bound = {(b.kind, b.subject_id) for b in await service.bindings.list_bindings(principal, use_case_id=uc)}
        for kind, subject in bindings[part]:
            if (kind, subject) not in bound:
                await service.bindings.bind(principal, kind, subject, uc, origin)
                done.append(f"{kind} bound")
        if part == "assistant" and not await service.transparency.records(principal, uc):
            # its public transparency record: written here, approved and published by the demo administrator
            record = await service.transparency.draft(principal, uc, origin)
            await service.transparency.act(reviewer, record.id, "approve", origin)
            await service.transparency.act(reviewer, record.id, "publish", origin)
            done.append(f"transparency record at /transparency/{DEMO_ORG_SLUG}/{uc}")
    return done
