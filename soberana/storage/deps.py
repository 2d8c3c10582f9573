"""FastAPI dependencies that hand a route a database session from the application's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.core.components import provider
from soberana.storage.db import Database

get_database = provider(Database)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).write_session() as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
Session = Annotated[AsyncSession, Depends(get_session)]
WriteSession = Annotated[AsyncSession, Depends(get_write_session)]
