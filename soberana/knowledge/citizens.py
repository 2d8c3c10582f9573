"""The citizens' assistant: anonymous conversations with a public collection.

A conversation's token (shown once) proves it is the citizen's. Questions are answered, and metered,
as the organisation's public assistant. Each question checks again that the collection is still
public and its organisation active: a conversation never outlives its collection's publication.
Opening conversations, asking and asking for a person are limited per client address; conversations
are deleted a retention period after their last message, or at once on the citizen's request.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import ANONYMOUS, AuditEvent
from soberana.audit.service import AuditLog
from soberana.auth.principal import Origin, system_principal
from soberana.core.aio import closing_stream
from soberana.core.clock import utcnow
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PersonalDataRefused,
    ServiceUnavailable,
    SoberanaError,
    require_id,
)
from soberana.knowledge import repo
from soberana.knowledge.answers import Answer, Delta
from soberana.knowledge.models import Collection, Conversation, Feedback, HandoffCase, Message
from soberana.knowledge.ports import AssistantGuard, ProblemDesk
from soberana.knowledge.schemas import FeedbackIn, HandoffIn
from soberana.knowledge.service import KnowledgeService
from soberana.privacy.retention import delete_in_batches
from soberana.privacy.schemas import PolicyDocument
from soberana.privacy.service import PrivacyService
from soberana.settings import Settings
from soberana.storage.counters import Counters
from soberana.storage.db import Database, commit_or_conflict
from soberana.storage.limits import RateLimiter

logger = logging.getLogger("soberana.knowledge")

CITIZEN_ASSISTANT = "citizen-assistant"
CITIZEN_ASSISTANT_ID = f"system:{CITIZEN_ASSISTANT}"  # the principal citizens' questions are answered as


@dataclass(frozen=True, slots=True)
class Answered:
    """A citizen's question answered: the reply as stored in the conversation, and the answer."""

    message: Message
    answer: Answer


def _for_citizens(error: SoberanaError, collection: Collection) -> SoberanaError:
    """What a citizen is told when an answer fails: never a deployment's name, an upstream's message or
    an internal address (they are logged for the staff)."""
    if isinstance(error, PersonalDataRefused):
        return InvalidRequest(
            "Your question holds personal data that this assistant may not process. Ask it without your "
            "personal details, or ask to talk to a person.",
            code="personal_data_blocked",
        )
    logger.warning("the assistant of %s could not answer: %s (%s)", collection.id, type(error).__name__, error.code)
    headers = {"Retry-After": error.headers["Retry-After"]} if "Retry-After" in error.headers else None
    return ServiceUnavailable(
        "The assistant cannot answer right now. Try again in a few minutes, or ask to talk to a person.",
        code="assistant_unavailable",
        headers=headers,
    )


class CitizenAssistant:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditLog,
        knowledge: KnowledgeService,
        privacy: PrivacyService,
        counters: Counters,
        guard: AssistantGuard,
        problems: ProblemDesk,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.problems = problems
        self.db = db
        self.audit = audit
        self.knowledge = knowledge
        self.admin = knowledge.admin
        self.privacy = privacy
        self._questions = RateLimiter(
            counters,
            "citizen-questions",
            settings.citizen_questions_per_minute,
            "Too many questions from this address; please wait a minute.",
        )
        self._openings = RateLimiter(
            counters,
            "citizen-conversations",
            settings.citizen_conversations_per_minute,
            "Too many new conversations from this address; please wait a minute.",
        )
        self._handoffs = RateLimiter(
            counters,
            "citizen-handoffs",
            settings.citizen_handoffs_per_minute,
            "Too many requests for a person from this address; please wait a minute.",
        )
        self._requests = RateLimiter(  # reading a conversation (the page polls it), feedback, erasure
            counters,
            "citizen-requests",
            settings.citizen_requests_per_minute,
            "Too many requests from this address; please wait a minute.",
        )

    # -- public assistants -----------------------------------------------------------------------------

    async def _public_collection(self, session: AsyncSession, ref: str) -> Collection:
        """A public collection of an active organisation, by id or ``org-slug/name``."""
        collection: Collection | None = None
        if ref.startswith("col_"):
            require_id(ref, "col", "collection", param="collection")
            collection = await session.get(Collection, ref)
        elif "/" in ref:
            slug, name = ref.split("/", 1)
            org = await self.admin.public_organisation(session, slug=slug)
            collection = await repo.collection_by_name(session, org.id, name) if org else None
        if (
            collection is None
            or collection.visibility != "public"
            or await self.admin.public_organisation(session, org_id=collection.org_id) is None
        ):
            raise NotFound(f"No public assistant {ref!r}.", param="collection")
        return collection

    async def public_assistants(self) -> list[tuple[Collection, str, str]]:
        """Every public collection of an active organisation: ``(collection, org slug, org name)``."""
        async with self.db.session() as session:
            published = [c for c in await repo.collections(session, None) if c.visibility == "public"]
            orgs = await self.admin.public_organisations(session, {c.org_id for c in published})
        return [(c, orgs[c.org_id].slug, orgs[c.org_id].name) for c in published if c.org_id in orgs]

    async def public_assistant(self, collection_ref: str) -> tuple[Collection, str]:
        """A public collection's assistant (``org-slug/name`` or its id) and the organisation's name."""
        async with self.db.session() as session:
            collection = await self._public_collection(session, collection_ref)
            org = await self.admin.public_organisation(session, org_id=collection.org_id)
        return collection, org.name if org else ""

    # -- conversations ---------------------------------------------------------------------------------

    async def open_conversation(self, collection_ref: str, origin: Origin) -> tuple[Conversation, str]:
        """A new anonymous conversation on a public collection, and its token (shown once)."""
        await self._openings.hit(origin.ip)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.session() as session:
            collection = await self._public_collection(session, collection_ref)
        await self._admitted(collection)  # outside the write below: a refusal writes the audit log
        async with self.db.write_session() as session:
            conversation = Conversation(
                id=new_id("conv"),
                collection_id=collection.id,
                org_id=collection.org_id,
                token_hash=sha256_hex(token),
                created_at=now,
                last_activity_at=now,
                expires_at=now + self.conversation_retention(collection.org_id),
            )
            session.add(conversation)
            await session.commit()
        return conversation, token

    async def _admitted(self, collection: Collection) -> None:
        """The register of AI use cases lets this assistant answer (checked at every question: a use case
        suspended mid-conversation stops it)."""
        try:
            await self.guard.admit_assistant(collection.id, collection.org_id)
        except PermissionDenied as refused:
            raise ServiceUnavailable(
                "This assistant is not available at the moment. Contact the organisation by its other channels.",
                code=refused.code,
            ) from None

    async def _conversation(self, session: AsyncSession, conversation_id: str, token: str | None) -> Conversation:
        require_id(conversation_id, "conv", "conversation")
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.expires_at < utcnow():
            raise NotFound(f"No conversation {conversation_id!r} (it may have expired).")
        if not token or not hmac.compare_digest(conversation.token_hash, sha256_hex(token)):
            raise AuthenticationFailed(
                "This conversation needs its token in the X-Conversation-Token header.",
                code="invalid_conversation_token",
            )
        return conversation

    async def ask(self, conversation_id: str, token: str | None, question: str, origin: Origin) -> Answered:
        async with closing_stream(self.ask_stream(conversation_id, token, question, origin, stream=False)) as items:
            async for item in items:
                if isinstance(item, Answered):
                    return item
        raise AssertionError("ask_stream ends with the stored answer")

    async def ask_stream(
        self,
        conversation_id: str,
        token: str | None,
        question: str,
        origin: Origin,
        *,
        stream: bool = True,
    ) -> AsyncIterator[Delta | Answered]:
        """A citizen's question: a generated answer's pieces as the model writes them (:class:`Delta`),
        then the answer as stored in the conversation (:class:`Answered`)."""
        await self._questions.hit(origin.ip)
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            # still public, its organisation still active: checked at every question, not only at the start
            collection = await self._public_collection(session, conversation.collection_id)
            history = [m.content for m in await repo.messages(session, conversation.id) if m.role == "user"]
        await self._admitted(collection)
        org_slug = await self.knowledge.org_slug(collection.org_id)
        # acting for the collection: the gateway holds its calls to the assistant's use case (models, suppliers)
        principal = system_principal(collection.org_id, org_slug, CITIZEN_ASSISTANT, acting_for=collection.id)
        answer: Answer | None = None
        answering = self.knowledge.answer_stream(
            principal,
            [collection],
            question,
            None,
            history,
            conversation_id,
            stream=stream,
            max_tokens=self.settings.citizen_answer_max_tokens,
        )
        try:
            async with closing_stream(answering) as items:
                async for item in items:
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield item
        except SoberanaError as error:
            raise _for_citizens(error, collection) from None
        assert answer is not None
        now = utcnow()
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            session.add(
                Message(
                    id=new_id("msg"),
                    conversation_id=conversation.id,
                    role="user",
                    content=question,
                    language=answer.language,
                    created_at=now,
                )
            )
            reply = Message(
                id=new_id("msg"),
                conversation_id=conversation.id,
                role="assistant",
                content=answer.text,
                language=answer.language,
                mode=answer.mode,
                citations=answer.citations,
                flags=answer.flags,
                created_at=now + timedelta(microseconds=1),
            )
            session.add(reply)
            conversation.language = answer.language
            conversation.last_activity_at = now
            conversation.expires_at = now + self.conversation_retention(conversation.org_id)
            await session.commit()
        yield Answered(reply, answer)

    async def transcript(
        self, conversation_id: str, token: str | None, origin: Origin
    ) -> tuple[Conversation, list[Message], HandoffCase | None]:
        await self._requests.hit(origin.ip)
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            return (
                conversation,
                await repo.messages(session, conversation.id),
                await repo.handoff_for(session, conversation.id),
            )

    async def rated(self, conversation_id: str, token: str | None) -> set[str]:
        """The answers of a conversation that already have the citizen's feedback (read with its
        transcript, which counts the request)."""
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            return await repo.rated_message_ids(session, conversation.id)

    async def feedback(self, conversation_id: str, token: str | None, body: FeedbackIn, origin: Origin) -> Feedback:
        await self._requests.hit(origin.ip)
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            message = await session.get(Message, body.message_id)
            if message is None or message.conversation_id != conversation.id or message.role != "assistant":
                raise NotFound("No answer with that id in this conversation.", param="message_id")
            feedback = Feedback(
                id=new_id("fb"),
                message_id=message.id,
                conversation_id=conversation.id,
                helpful=body.helpful,
                reason=body.reason,
                comment=body.comment,
            )
            session.add(feedback)
            await commit_or_conflict(session, "This answer has feedback already.")
            return feedback

    async def report_problem(self, conversation_id: str, token: str | None, description: str, origin: Origin) -> str:
        """A citizen reports a problem with the assistant (a wrong or harmful answer, something that does not
        work): an incident for the staff of the use case it runs for. Returns the reference."""
        await self._handoffs.hit(origin.ip)  # as rare as asking for a person, and limited alike
        text = description.strip()
        if not text:
            raise InvalidRequest("Describe the problem.", param="description")
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            collection = await self._public_collection(session, conversation.collection_id)
        reference = await self.problems.from_citizen(collection.id, collection.org_id, conversation.id, text)
        if reference is None:
            raise Conflict(
                "This assistant does not take problem reports. Rate the answer, or ask to talk to a person.",
                code="reports_not_taken",
            )
        return reference

    async def request_handoff(
        self, conversation_id: str, token: str | None, body: HandoffIn, origin: Origin
    ) -> HandoffCase:
        """Open a case in the staff queue (or return the one already open)."""
        await self._handoffs.hit(origin.ip)
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            existing = await repo.handoff_for(session, conversation.id)
            if existing is not None:
                return existing
            case = HandoffCase(
                id=new_id("case"),
                conversation_id=conversation.id,
                org_id=conversation.org_id,
                status="open",
                reason=body.reason,
                contact=body.contact,
            )
            session.add(case)
            await self._record(
                session, origin, "knowledge.handoff.opened", conversation, "knowledge_handoff_case", case.id
            )
            await commit_or_conflict(session, "A person has been asked for already in this conversation.")
            return case

    async def erase_conversation(self, conversation_id: str, token: str | None, origin: Origin) -> None:
        """Erase a citizen's conversation on their request: messages, feedback and hand-off case."""
        await self._requests.hit(origin.ip)
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            await repo.delete_conversations(session, [conversation.id])
            await self.privacy.erase_conversation(session, conversation.org_id, CITIZEN_ASSISTANT_ID, conversation.id)
            await self._record(
                session,
                origin,
                "knowledge.conversation.erased",
                conversation,
                "knowledge_conversation",
                conversation.id,
            )
            await session.commit()

    async def _record(
        self,
        session: AsyncSession,
        origin: Origin,
        action: str,
        conversation: Conversation,
        object_type: str,
        object_id: str,
    ) -> None:
        """What an anonymous citizen did to their conversation, in the audit log of its organisation."""
        event = AuditEvent(
            action=action,
            actor=ANONYMOUS,
            org_id=conversation.org_id,
            object_type=object_type,
            object_id=object_id,
            details={"conversation_id": conversation.id},
            ip=origin.ip,
            request_id=origin.request_id,
        )
        await self.audit.append(session, event)

    def conversation_retention(self, org_id: str) -> timedelta:
        """How long a citizen conversation of ``org_id`` is kept after its last message."""
        days = self.privacy.retention_days(org_id, ConversationRetention.kind)
        return timedelta(days=days or self.settings.conversation_retention_days)


class ConversationRetention:
    """Deletes citizen conversations (messages, feedback, hand-off cases) a retention period after their
    last message; one of the purgers of :class:`~soberana.privacy.service.PrivacyService`."""

    kind = "conversations"

    def default_days(self, settings: Settings) -> float | None:
        return settings.conversation_retention_days

    def org_days(self, document: PolicyDocument) -> float | None:
        return document.retention.conversations_days

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        rows = await repo.conversations_before(session, default_cutoff, cutoffs)
        return await delete_in_batches(rows, lambda ids: repo.delete_conversations(session, ids))
