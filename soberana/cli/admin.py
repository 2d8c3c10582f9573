"""``soberana orgs|users|service-accounts|keys``: administration from the server's command line.

These commands act as the operator (recorded in the audit log as ``cli:<OS user>``) and go
through the same services, checks and audit trail as the admin API.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from soberana.auth.key_admin import key_status
from soberana.auth.keys import display_prefix
from soberana.auth.principal import Role, Scope
from soberana.auth.schemas import (
    ApiKeyCreate,
    OrganisationCreate,
    OrganisationUpdate,
    ServiceAccountCreate,
    UserCreate,
    UserUpdate,
)
from soberana.cli.context import CliContext, console, ctx, fail

orgs = typer.Typer(help="Organisations: ministries, agencies, cities.", no_args_is_help=True)
users = typer.Typer(help="People and their roles.", no_args_is_help=True)
service_accounts = typer.Typer(help="Non-human principals: applications and integrations.", no_args_is_help=True)
keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _table(*columns: str) -> Table:
    return Table(*columns, show_lines=False, highlight=False)


async def _org(context: CliContext, session: Any, slug: str) -> Any:
    return await context.admin.organisation_by_slug(session, context.principal, slug)


def _validated(model: type[Any], **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(problems)


# -- orgs -------------------------------------------------------------------------------------------


@orgs.command("create")
def orgs_create(
    typer_ctx: typer.Context,
    slug: str = typer.Argument(..., help="Short unique name, e.g. ministry-of-health."),
    name: str = typer.Option(..., help="Full name."),
    kind: str = typer.Option("other", help="ministry, agency, city, region, public_body or other."),
    parent: str | None = typer.Option(None, help="Slug of the organisation this one belongs to."),
) -> None:
    """Create an organisation."""
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.write_session() as session:
            parent_id = (await _org(context, session, parent)).id if parent else None
            data = _validated(OrganisationCreate, slug=slug, name=name, kind=kind, parent_id=parent_id)
            return await context.admin.create_organisation(session, context.principal, data, context.origin)

    org = context.run(go())
    console.print(f"Created organisation {org.slug} ({org.id}).", highlight=False)


@orgs.command("list")
def orgs_list(typer_ctx: typer.Context) -> None:
    """List organisations."""
    context = ctx(typer_ctx)

    async def go() -> list[Any]:
        async with context.db.session() as session:
            rows, _ = await context.admin.list_organisations(session, context.principal, limit=500)
            slugs = {r.id: r.slug for r in rows}
            return [(r, slugs.get(r.parent_id or "", "")) for r in rows]

    table = _table("slug", "name", "kind", "parent", "active", "id")
    for org, parent in context.run(go()):
        table.add_row(org.slug, org.name, org.kind, parent, "yes" if org.is_active else "no", org.id)
    console.print(table)


def _set_org_active(typer_ctx: typer.Context, slug: str, active: bool) -> None:
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.write_session() as session:
            org = await _org(context, session, slug)
            return await context.admin.update_organisation(
                session, context.principal, org.id, OrganisationUpdate(is_active=active), context.origin
            )

    org = context.run(go())
    console.print(f"Organisation {org.slug} is now {'active' if org.is_active else 'deactivated'}.", highlight=False)


@orgs.command("revoke")
def orgs_revoke(typer_ctx: typer.Context, slug: str) -> None:
    """Deactivate an organisation: its users and keys are refused until it is reactivated."""
    _set_org_active(typer_ctx, slug, False)


@orgs.command("activate")
def orgs_activate(typer_ctx: typer.Context, slug: str) -> None:
    """Reactivate a deactivated organisation."""
    _set_org_active(typer_ctx, slug, True)


# -- users ------------------------------------------------------------------------------------------


@users.command("create")
def users_create(
    typer_ctx: typer.Context,
    email: str = typer.Argument(...),
    org: str = typer.Option(..., help="Organisation slug."),
    name: str = typer.Option(..., help="Display name."),
    role: Role = typer.Option(Role.STAFF, help="Role in the organisation."),
    password: bool = typer.Option(False, "--password", help="Prompt for a sign-in password."),
) -> None:
    """Create a user."""
    context = ctx(typer_ctx)
    secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None

    async def go() -> Any:
        async with context.db.write_session() as session:
            org_id = (await _org(context, session, org)).id
            data = _validated(UserCreate, org_id=org_id, email=email, display_name=name, role=role, password=secret)
            return await context.admin.create_user(session, context.principal, data, context.origin)

    user = context.run(go())
    console.print(f"Created user {user.email} ({user.id}, {user.role}).", highlight=False)


@users.command("list")
def users_list(typer_ctx: typer.Context, org: str | None = typer.Option(None, help="Only this organisation.")) -> None:
    """List users."""
    context = ctx(typer_ctx)

    async def go() -> list[Any]:
        async with context.db.session() as session:
            org_id = (await _org(context, session, org)).id if org else None
            rows, _ = await context.admin.list_users(session, context.principal, limit=500, org_id=org_id)
            return rows

    table = _table("email", "name", "role", "active", "id")
    for user in context.run(go()):
        table.add_row(user.email, user.display_name, user.role, "yes" if user.is_active else "no", user.id)
    console.print(table)


def _update_user(typer_ctx: typer.Context, email: str, update: UserUpdate) -> Any:
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.write_session() as session:
            user = await context.admin.user_by_email(session, context.principal, email)
            return await context.admin.update_user(session, context.principal, user.id, update, context.origin)

    return context.run(go())


@users.command("revoke")
def users_revoke(typer_ctx: typer.Context, email: str) -> None:
    """Deactivate a user: they cannot sign in and their keys are refused."""
    user = _update_user(typer_ctx, email, UserUpdate(is_active=False))
    console.print(f"User {user.email} is deactivated.", highlight=False)


@users.command("set-password")
def users_set_password(typer_ctx: typer.Context, email: str) -> None:
    """Set a user's sign-in password (prompted, at least 12 characters)."""
    secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    _update_user(typer_ctx, email, _validated(UserUpdate, password=secret))
    console.print(f"Password set for {email}.", highlight=False)


# -- service accounts -------------------------------------------------------------------------------


@service_accounts.command("list")
def service_accounts_list(typer_ctx: typer.Context, org: str | None = typer.Option(None)) -> None:
    """List service accounts."""
    context = ctx(typer_ctx)

    async def go() -> list[Any]:
        async with context.db.session() as session:
            org_id = (await _org(context, session, org)).id if org else None
            rows, _ = await context.admin.list_service_accounts(session, context.principal, limit=500, org_id=org_id)
            return rows

    table = _table("name", "role", "active", "id", "organisation id")
    for account in context.run(go()):
        table.add_row(account.name, account.role, "yes" if account.is_active else "no", account.id, account.org_id)
    console.print(table)


# -- keys -------------------------------------------------------------------------------------------


@keys.command("create")
def keys_create(
    typer_ctx: typer.Context,
    org: str = typer.Option(..., help="Organisation slug."),
    name: str = typer.Option(..., help="What the key is for, e.g. ci or citizen-portal."),
    user: str | None = typer.Option(None, help="Owner: this user's e-mail."),
    service_account: str | None = typer.Option(
        None, help="Owner: this service account (default: one named like the key, created if missing)."
    ),
    role: Role = typer.Option(Role.STAFF, help="Role of a service account created for the key."),
    scope: list[Scope] = typer.Option([Scope.INFERENCE], help="Scope(s) of the key; repeat for several."),
    expires_in_days: int | None = typer.Option(None, help="Lifetime; default from SOBERANA_API_KEY_DEFAULT_TTL_DAYS."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the new key (for scripts)."),
) -> None:
    """Create an API key and print it once."""
    context = ctx(typer_ctx)
    if user and service_account:
        fail("Give --user or --service-account, not both.")

    async def go() -> Any:
        async with context.db.write_session() as session:
            org_id = (await _org(context, session, org)).id
            if user:
                owner = await context.admin.user_by_email(session, context.principal, user)
                if owner.org_id != org_id:
                    fail(f"{user} belongs to another organisation.")
                owner_ids: dict[str, str] = {"user_id": owner.id}
            else:
                account_name = service_account or name
                account = await context.admin.service_account_by_name(session, context.principal, org_id, account_name)
                if account is None:
                    account = await context.admin.create_service_account(
                        session,
                        context.principal,
                        _validated(ServiceAccountCreate, org_id=org_id, name=account_name, role=role),
                        context.origin,
                    )
                owner_ids = {"service_account_id": account.id}
            data = _validated(ApiKeyCreate, name=name, scopes=scope, expires_in_days=expires_in_days, **owner_ids)
            return await context.admin.create_key(session, context.principal, data, context.origin)

    key, plaintext = context.run(go())
    if quiet:
        print(plaintext)
        return
    expiry = f"expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "never expires"
    console.print(f"Created key {key.id} '{key.name}' (scopes: {', '.join(key.scopes)}; {expiry}).", highlight=False)
    console.print("Store it now; it is shown only this once:", highlight=False)
    console.print(plaintext, highlight=False, soft_wrap=True)


@keys.command("list")
def keys_list(typer_ctx: typer.Context, org: str | None = typer.Option(None, help="Only this organisation.")) -> None:
    """List API keys (never their secrets)."""
    context = ctx(typer_ctx)

    async def go() -> list[Any]:
        async with context.db.session() as session:
            org_id = (await _org(context, session, org)).id if org else None
            rows, _ = await context.admin.list_keys(session, context.principal, limit=500, org_id=org_id)
            return rows

    table = _table("prefix", "name", "owner", "scopes", "status", "expires", "last used", "id")
    for key in context.run(go()):
        owner = key.user.email if key.user else (key.service_account.name if key.service_account else "")
        table.add_row(
            display_prefix(key.prefix),
            key.name,
            owner,
            ",".join(key.scopes),
            key_status(key),
            f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
            key.id,
        )
    console.print(table)


@keys.command("revoke")
def keys_revoke(
    typer_ctx: typer.Context, key: str = typer.Argument(..., help="Key id (key_…) or prefix (sob_…).")
) -> None:
    """Revoke an API key for good."""
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.write_session() as session:
            found = await context.admin.find_key(session, context.principal, key)
            return await context.admin.revoke_key(session, context.principal, found.id, context.origin)

    revoked = context.run(go())
    console.print(f"Revoked key {revoked.id} ({display_prefix(revoked.prefix)}).", highlight=False)
