"""``soberana demo seed``: the demo organisation, administrator and API key that `make run` creates."""

from __future__ import annotations

from typing import Any

import typer

from soberana.auth.keys import display_prefix
from soberana.auth.principal import Role, Scope
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from soberana.cli.context import console, ctx

app = typer.Typer(help="Demo data for a first look.", no_args_is_help=True)

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Villa Ejemplo (fictional demo municipality)"
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
                ApiKeyCreate(name=DEMO_KEY_NAME, user_id=user.id, scopes=[Scope.ADMIN, Scope.AUDIT, Scope.INFERENCE]),
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
