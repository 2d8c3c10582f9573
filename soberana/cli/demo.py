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
from soberana.cli.context import console, ctx

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
