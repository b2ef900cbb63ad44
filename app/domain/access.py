"""Who is acting, and what they may see: the one place that answers it.

Every channel (office, workspace, API, portal, jobs) builds one :class:`Actor` per request,
job or API call, and every query of municipality- or citizen-owned rows goes through the
loaders here. Views never filter by municipality or owner themselves.

Staff see the rows of their own municipality, system administrators every municipality's,
and a citizen the applications they filed online; a draft application is its creator's alone
until it is submitted. A row the actor may not
see and a row that does not exist are the same answer: :class:`NotFound`.

Every statement built here carries the execution option :data:`SCOPE_OPTION`, a
:class:`Scope` naming the FROM objects it limited (a model's table, or the alias it was
given). The backstop (:func:`unscoped_load`, installed by the web layer for requests) refuses
a SELECT, UPDATE or DELETE during a request that reads a
:class:`~app.models.base.MunicipalityScoped` table (as an entity, an alias, in a join, a
subquery or a count) through a FROM no loader limited, raw SQL (``text()``), and a
relationship load of owned rows from a row that is not itself owned
(``municipality.departments``), so a new query cannot skip the scope by accident. Deliberate
exceptions say why: :func:`within` for queries bounded by a municipality the caller already
holds (a row it loaded through a loader, the actor's own), :func:`correlated` for a subquery
bounded by the owned row around it (neither for applications, whose drafts are private),
:func:`unscoped` for the few that must cross municipalities. Statements run on a bare
connection (``session.connection().execute``) pass no session event and are not checked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeGuard, TypeVar, cast

from sqlalchemy import ColumnElement, Delete, Select, Table, TextClause, Update, and_, event, false, or_, select, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import ColumnClause, TableClause
from sqlalchemy.sql.selectable import Alias, AliasedReturnsRows, CompoundSelect, FromClause, Join, SelectBase

from app.domain import channels, inputs, memo, related, roles, statuses
from app.models import Application, ApplicationDocument, Department, Municipality, StaffProfile, User
from app.models.base import Model, MunicipalityOwned, MunicipalityScoped

if TYPE_CHECKING:
    from app.plugins.registry import RegisteredService, ServiceRegistry

# Largest primary key our integer key columns hold (PostgreSQL's ``integer``, as
# app.domain.inputs.MAX_ID); anything bigger is simply "not found", never sent to the database,
# which would refuse the query itself ("integer out of range").
MAX_PK = inputs.MAX_ID
# The execution option every scoped statement carries: a Scope.
SCOPE_OPTION = "hamaynk_scope"
# Why the actor's own staff profile is read unscoped: who acts decides every scope after it.
OWN_PROFILE = "the acting user's own profile"


class _Statement(Protocol):
    # What select() and a legacy Query (Flask-AppBuilder's) both offer.
    def where(self, *criteria: Any) -> Self: ...

    def execution_options(self, **options: Any) -> Self: ...

    def get_execution_options(self) -> Any: ...


Stmt = TypeVar("Stmt", bound=_Statement)


class NotFound(LookupError):
    """No such row, or one the actor may not see: callers cannot tell the two apart (404)."""


@dataclass(frozen=True)
class Scope:
    """How a statement was scoped (its :data:`SCOPE_OPTION`): the FROM objects a loader limited
    (the model's table, or the alias it was given), or ``None`` for every table (deliberately
    unscoped), and how, for whoever reads the query. Objects, not table names: an alias of
    the same table, or an uncorrelated subquery of it, is another read the scope never limited."""

    froms: frozenset[FromClause] | None
    how: str

    @property
    def tables(self) -> frozenset[str] | None:
        """The names of the tables limited, for whoever reads the scope."""
        return None if self.froms is None else frozenset(_table_of(f).name for f in self.froms)

    def covers(self, from_clause: FromClause) -> bool:
        return self.froms is None or _plain(from_clause) in self.froms

    def __or__(self, other: Scope) -> Scope:
        froms = None if self.froms is None or other.froms is None else self.froms | other.froms
        return Scope(froms, self.how if self.how == other.how else f"{self.how}; {other.how}")


def _valid_id(value: object) -> bool:
    # bool is an int to Python; True must not read as row 1.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PK


@dataclass(frozen=True)
class Actor:
    """A signed-in person as the domain sees them; no request or ORM object inside.

    Staff act within ``municipality_id`` (and ``department_id``). For a citizen the person is
    the account itself: applications name it as ``applicant_user_id`` and
    :func:`applications_clause` shows them those. (Verified identities — a public service
    number confirmed by an identity provider — arrive with the citizen portal and will be
    one more field here, not a second identity object.)
    """

    user_id: int
    roles: frozenset[str]
    active: bool
    municipality_id: int | None
    department_id: int | None
    # The code of ``department_id`` (a department of ``municipality_id``), read with the
    # profile where that costs no statement (the sign-in SELECT, :func:`load_actor`); ``None``
    # when the actor has no department or it was not read (actors built by hand: the inbox
    # then asks, app.domain.inbox.department_code_of). Derived, so not compared.
    department_code: str | None = field(default=None, compare=False)

    def has(self, *role_names: str) -> bool:
        return any(name in self.roles for name in role_names)

    @property
    def is_system_admin(self) -> bool:
        return roles.SYSTEM_ADMIN in self.roles

    @property
    def is_citizen(self) -> bool:
        """Signed in as a member of the public: no municipality, no staff role."""
        return self.municipality_id is None and not self.has(*roles.STAFF_ROLES)


# load_actor's "profile not read yet" (``None`` is "read: the user has none").
_UNREAD: Any = object()


def load_actor(
    session: Session,
    actor_id: int | None,
    *,
    profile: StaffProfile | None = _UNREAD,
    department_code: str | None = None,
) -> Actor | None:
    """The actor for a user id (once per request, job or API call); ``None`` for no such user.
    ``profile``: the user's own staff profile (or ``None``: they have none) when the caller
    already read it with the user (a request's sign-in check does), saving a query, and
    ``department_code`` the code of its department read with it. Read here, the profile
    comes with its department's code in the same SELECT."""
    if actor_id is None:
        return None
    user = session.get(User, actor_id)
    if user is None:
        return None
    if profile is _UNREAD or (profile is not None and profile.user_id != actor_id):
        profile, department_code = _own_profile(session, actor_id)
    return Actor(
        user_id=user.id,
        roles=frozenset(role.name for role in user.roles),
        active=bool(user.active),
        municipality_id=profile.municipality_id if profile else None,
        department_id=profile.department_id if profile else None,
        department_code=department_code if profile is not None and profile.department_id is not None else None,
    )


def own_department_join() -> ColumnElement[bool]:
    """The ON clause joining a staff profile to its own department, within the profile's
    municipality (a department of another municipality is none of its own)."""
    return and_(Department.id == StaffProfile.department_id, Department.municipality_id == StaffProfile.municipality_id)


def _own_profile(session: Session, actor_id: int) -> tuple[StaffProfile | None, str | None]:
    own = unscoped(
        select(StaffProfile, Department.code).outerjoin(Department, own_department_join()), reason=OWN_PROFILE
    )
    found = session.execute(own.where(StaffProfile.user_id == actor_id)).first()
    return (None, None) if found is None else (found[0], found[1])


# -- municipalities ------------------------------------------------------------------------------


def visible_municipality_ids(actor: Actor | None) -> frozenset[int] | None:
    """``None`` means every municipality (system administrators); otherwise the ids the actor
    may see, possibly none (strangers, inactive accounts, staff without a municipality)."""
    if actor is None or not actor.active:
        return frozenset()
    if actor.is_system_admin:
        return None
    return frozenset({actor.municipality_id}) if actor.municipality_id is not None else frozenset()


def _owner_column(model: Any) -> Any:
    # A municipality owns itself; every other owned table names its owner.
    return model.id if sa_inspect(model).mapper.class_ is Municipality else model.municipality_id


def municipality_clause(model: Any, actor: Actor | None) -> ColumnElement[bool]:
    """The WHERE clause limiting ``model`` (any model with a ``municipality_id``, or
    :class:`Municipality` itself) to the municipalities ``actor`` may see. A row without a
    municipality is everyone's when its model says so (``unowned_rows_shared``: system-wide
    services), otherwise the system administrators' alone (their profiles, system events)."""
    ids = visible_municipality_ids(actor)
    if ids is None:
        return true()
    shared = getattr(sa_inspect(model).mapper.class_, "unowned_rows_shared", False)
    owner = _owner_column(model)
    if not ids:
        return owner.is_(None) if shared else false()
    mine = owner.in_(sorted(ids))
    return or_(owner.is_(None), mine) if shared else mine


def _plain(element: Any) -> Any:
    # The ORM hands the backstop annotated copies of tables and aliases; compare the originals.
    return element._deannotate() if hasattr(element, "_deannotate") else element


def _table_of(from_clause: FromClause) -> TableClause:
    plain = _plain(from_clause)
    return cast(TableClause, plain.element if isinstance(plain, Alias) else plain)


def _mark(stmt: Stmt, how: str, model: Any = None) -> Stmt:
    # Scoping one statement twice (an owner and a joined table) covers both FROM objects.
    scope = Scope(None if model is None else frozenset({_plain(sa_inspect(model).selectable)}), how)
    before = stmt.get_execution_options().get(SCOPE_OPTION)
    return stmt.execution_options(**{SCOPE_OPTION: before | scope if isinstance(before, Scope) else scope})


def scoped(stmt: Stmt, model: Any, actor: Actor | None) -> Stmt:
    """``stmt`` (a ``select()`` or a legacy ``Query``) limited to the rows of ``model`` that
    ``actor`` may see; applications by :func:`applications_clause` (drafts are private).
    Scope every owned model the statement reads: each is checked on its own."""
    if sa_inspect(model).mapper.class_ is Application:
        return _mark(stmt.where(applications_clause(actor, model)), "actor", model)
    return _mark(stmt.where(municipality_clause(model, actor)), "actor", model)


def within(stmt: Stmt, model: Any, municipality_id: int) -> Stmt:
    """``stmt`` limited to one municipality the caller already holds: that of a row it loaded
    through a loader here, or the actor's own. For domain code that works on behalf of such
    a row (an application's activation, holidays, history). It knows no actor, so it keeps
    no draft private, so it refuses :class:`Application`: applications are queried with
    :func:`scoped` or :func:`visible_applications`, or :func:`unscoped` with a reason."""
    _refuse_applications(model)
    return _mark(stmt.where(_owner_column(model) == municipality_id), "municipality", model)


def correlated(stmt: Stmt, model: Any, outer: Any) -> Stmt:
    """``stmt``, a subquery of ``model`` inside a statement of the owned model ``outer``,
    limited to the municipality of the ``outer`` row it is correlated with. The statement
    around it must scope ``outer``; the backstop checks that as usual. Not for
    :class:`Application` (drafts are private): see :func:`within`."""
    _refuse_applications(model)
    if not issubclass(sa_inspect(outer).mapper.class_, MunicipalityOwned):
        # A municipality is public: its owned rows come through a loader, not through it.
        raise TypeError(f"{outer!r} is not a municipality-owned model")
    return _mark(stmt.where(_owner_column(model) == outer.municipality_id), "correlated", model)


def _refuse_applications(model: Any) -> None:
    if sa_inspect(model).mapper.class_ is Application:
        raise TypeError("applications are scoped by actor (drafts are private): use scoped or visible_applications")


def unscoped(stmt: Stmt, *, reason: str) -> Stmt:
    """``stmt`` as it is, deliberately across municipalities; ``reason`` says why (it shows in
    the code and in the query's options, for whoever reviews it)."""
    if not reason:
        raise ValueError("say why the query may cross municipalities")
    return _mark(stmt, f"unscoped: {reason}")


def get_municipality(session: Session, actor: Actor | None, municipality_id: int) -> Municipality:
    """Municipality ``municipality_id`` if ``actor`` acts for it (staff: their own, system
    administrators: any); :class:`NotFound` otherwise."""
    if not _valid_id(municipality_id):
        raise NotFound(municipality_id)
    stmt = scoped(select(Municipality), Municipality, actor).where(Municipality.id == municipality_id)
    municipality = session.execute(stmt).scalar_one_or_none()
    if municipality is None:
        raise NotFound(municipality_id)
    return municipality


def departments_of(actor: Actor | None, municipality_id: int | None) -> Select[Department]:
    """A SELECT of the departments of ``municipality_id`` (which may be posted, so forged) as
    far as ``actor`` may see them, in code order."""
    stmt = scoped(select(Department), Department, actor)
    return stmt.where(Department.municipality_id == municipality_id).order_by(Department.code)


# -- applications --------------------------------------------------------------------------------


def applications_clause(actor: Actor | None, entity: Any = Application) -> ColumnElement[bool]:
    """Which applications ``actor`` may see, as one WHERE clause (on ``entity``: the
    :class:`Application` model or an alias of it).

    Each way of reaching an application is one clause of the ``or_``: staff see their
    municipality's, an applicant the ones filed under their account (online). Whoever
    reaches it, a draft stays its creator's until it is submitted.
    """
    if actor is None or not actor.active:
        return false()
    ways = [municipality_clause(entity, actor), entity.applicant_user_id == actor.user_id]
    return and_(or_(*ways), or_(entity.status != statuses.DRAFT, entity.created_by_id == actor.user_id))


def visible_applications(actor: Actor | None, *columns: Any) -> Select[Any]:
    """A SELECT of the applications ``actor`` may see (whole rows, or ``columns`` of them),
    for lists: add filters, order and limit as needed."""
    return _mark(select(*(columns or (Application,))).where(applications_clause(actor)), "actor", Application)


def municipal_applications(actor: Actor | None, *columns: Any) -> Select[Any]:
    """Like :func:`visible_applications`, limited to the actor's own municipality: what staff
    work on. Said without the applicant's way in (an ``OR`` across two indexes), so that the
    database walks one municipality's index range in order. Nothing for an actor of no
    municipality."""
    if actor is None or not actor.active or actor.municipality_id is None:
        return visible_applications(None, *columns)
    seen = visible_municipality_ids(actor)
    if seen is not None and actor.municipality_id not in seen:
        return visible_applications(None, *columns)
    # Each term once: PostgreSQL multiplies the selectivity of a repeated term, and from a
    # too small estimate sorts a bitmap scan's thousands of rows instead of walking an index
    # in order (17 ms instead of 0.1 for a specialist's assigned tasks at a million).
    clause = and_(
        Application.municipality_id == actor.municipality_id,
        or_(Application.status != statuses.DRAFT, Application.created_by_id == actor.user_id),
    )
    return _mark(select(*(columns or (Application,))).where(clause), "actor", Application)


# app.domain.memo keys of what get_application reads with the application.
_ACTIVATION = "activation"
_MUNICIPALITY = "application_municipality"


def get_application(session: Session, actor: Actor | None, application_id: int) -> Application:
    """The application ``application_id`` if ``actor`` may see it; :class:`NotFound` when it does
    not exist, belongs to a municipality the actor may not see, or is someone else's draft.
    Views answer 404, the API its 404 JSON: the three cases look the same from outside.

    Its municipality and its service's activation there come in the same statement: every page
    of one application names the one and checks its steps against the other. Both are kept for
    the transaction (:func:`activation_of`; the municipality through ``session.get``)."""
    if not _valid_id(application_id):
        raise NotFound(application_id)
    stmt = (
        visible_applications(actor, Application, ServiceActivation, Municipality)
        .join(Municipality, Municipality.id == Application.municipality_id)
        .outerjoin(
            ServiceActivation,
            and_(
                ServiceActivation.municipality_id == Application.municipality_id,
                ServiceActivation.service_key == Application.service_key,
            ),
        )
        .where(Application.id == application_id)
    )
    # The activation joined on the application's own municipality: scoped by that join.
    found = session.execute(_mark(stmt, "municipality", ServiceActivation)).one_or_none()
    if found is None:
        raise NotFound(application_id)
    application, activation, municipality = found
    memo.remember(session, (_ACTIVATION, application.municipality_id, application.service_key), lambda: activation)
    # Held so that session.get() finds it in the identity map (which holds rows weakly).
    memo.remember(session, (_MUNICIPALITY, municipality.id), lambda: municipality)
    return application


def activation_of(session: Session, municipality_id: int, service_key: str) -> ServiceActivation | None:
    """The municipality's activation of a service (``None``: never activated), read once per
    transaction (app.domain.memo); :func:`get_application` hands over the one it joined."""

    def read() -> ServiceActivation | None:
        stmt = within(select(ServiceActivation), ServiceActivation, municipality_id)
        return session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()

    return memo.remember(session, (_ACTIVATION, municipality_id, service_key), read)


def get_document(session: Session, actor: Actor | None, application_id: int, document_id: int) -> ApplicationDocument:
    """Document ``document_id`` of application ``application_id``, if ``actor`` may see that
    application (:func:`get_application`); else :class:`NotFound`. ``document.application`` is
    the visible application. Seeing that a document exists is not opening it: who may open
    personal data is :func:`may_see_personal_data`."""
    return document_of(session, get_application(session, actor, application_id), document_id)


def document_of(session: Session, application: Application, document_id: int) -> ApplicationDocument:
    """Document ``document_id`` of an application loaded through :func:`get_application`;
    :class:`NotFound` when the application has no such document."""
    if not _valid_id(document_id):
        raise NotFound(document_id)
    document = session.execute(
        within(select(ApplicationDocument), ApplicationDocument, application.municipality_id).where(
            ApplicationDocument.id == document_id, ApplicationDocument.application_id == application.id
        )
    ).scalar_one_or_none()
    if document is None:
        raise NotFound(document_id)
    return document


def _documents_statement(municipality_id: Any, application_id: Any) -> Select[Any]:
    stmt = within(select(ApplicationDocument), ApplicationDocument, municipality_id)
    return stmt.where(ApplicationDocument.application_id == application_id)


# An application's uploaded documents, in upload order (app.domain.related).
DOCUMENTS = related.Kind("documents", ApplicationDocument, _documents_statement, (("id", False),))


def documents_of(session: Session, application: Application) -> list[ApplicationDocument]:
    """The documents of an application loaded through :func:`get_application`, in upload order."""
    return related.rows(session, application, DOCUMENTS)


# -- questions to the specialist ------------------------------------------------------------------
#
# A citizen sees the questions they asked; staff see every question of their municipality (a
# system administrator every municipality's). Which of those a staff list shows (assigned to
# me, my department's, all of them) is a filter on top, in app.domain.questions: any
# colleague of the municipality may open a question they were sent a link to, as with cases.

from app.models.portal import Question, QuestionAttachment, QuestionMessage  # noqa: E402


def questions_clause(actor: Actor | None, entity: Any = Question) -> ColumnElement[bool]:
    """Which questions ``actor`` may see, as one WHERE clause on ``entity``: staff their
    municipality's, a person the questions they asked themselves."""
    if actor is None or not actor.active:
        return false()
    return or_(municipality_clause(entity, actor), entity.citizen_user_id == actor.user_id)


def visible_questions(actor: Actor | None, *columns: Any) -> Select[Any]:
    """A SELECT of the questions ``actor`` may see (whole rows or ``columns``), for lists."""
    return _mark(select(*(columns or (Question,))).where(questions_clause(actor)), "actor", Question)


def with_question_department(stmt: Stmt, department: Any = Department) -> Stmt:
    """``stmt`` (of visible questions) outer-joined to the department each is addressed to
    (``department``: the model or an alias), which is readable because the question is."""
    joined = stmt.outerjoin(  # type: ignore[attr-defined]
        department,
        and_(department.id == Question.department_id, department.municipality_id == Question.municipality_id),
    )
    return _mark(joined, "the department of a visible question", department)


def with_question_application(stmt: Stmt, actor: Actor | None, application: Any = Application) -> Stmt:
    """``stmt`` (of visible questions) outer-joined to the application each is about, when
    ``actor`` may see that application (:func:`applications_clause`); else no row joins."""
    joined = stmt.outerjoin(  # type: ignore[attr-defined]
        application, and_(application.id == Question.application_id, applications_clause(actor, application))
    )
    return _mark(joined, "actor", application)


def get_question(session: Session, actor: Actor | None, question_id: int) -> Question:
    """Question ``question_id`` if ``actor`` may see it; :class:`NotFound` otherwise (another
    citizen's question, another municipality's, or none at all look the same)."""
    if not _valid_id(question_id):
        raise NotFound(question_id)
    question = session.execute(visible_questions(actor).where(Question.id == question_id)).scalar_one_or_none()
    if question is None:
        raise NotFound(question_id)
    return question


def question_messages(session: Session, question: Question) -> list[QuestionMessage]:
    """The thread of a question loaded through :func:`get_question`, oldest first."""
    stmt = within(select(QuestionMessage), QuestionMessage, question.municipality_id)
    stmt = stmt.where(QuestionMessage.question_id == question.id).order_by(QuestionMessage.id)
    return list(session.execute(stmt).scalars())


def _attachments_of(question: Question) -> Select[Any]:
    stmt = select(QuestionAttachment).join(QuestionMessage, QuestionMessage.id == QuestionAttachment.message_id)
    stmt = within(within(stmt, QuestionAttachment, question.municipality_id), QuestionMessage, question.municipality_id)
    return stmt.where(QuestionMessage.question_id == question.id).order_by(QuestionAttachment.id)


def question_attachments(session: Session, question: Question) -> list[QuestionAttachment]:
    """The attachments of every message of a question loaded through :func:`get_question`."""
    return list(session.execute(_attachments_of(question)).scalars())


def get_question_attachment(
    session: Session, actor: Actor | None, question_id: int, attachment_id: int
) -> tuple[Question, QuestionAttachment]:
    """Attachment ``attachment_id`` of question ``question_id`` if ``actor`` may see the
    question; :class:`NotFound` otherwise. Seeing is not opening: see app.domain.questions."""
    question = get_question(session, actor, question_id)
    if not _valid_id(attachment_id):
        raise NotFound(attachment_id)
    found = session.execute(
        _attachments_of(question).where(QuestionAttachment.id == attachment_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(attachment_id)
    return question, found


def public_departments(municipality_id: int) -> Select[Department]:
    """A SELECT of the departments of ``municipality_id`` in code order, for anyone: which
    departments a municipality has is public (a citizen addresses a question to one)."""
    stmt = select(Department).where(Department.municipality_id == municipality_id).order_by(Department.code)
    return _mark(stmt, "public: the departments of a municipality", Department)


# -- services -------------------------------------------------------------------------------------


class _ServiceOwner(Protocol):
    # A registered service or a plug-in record: a builder service names its municipality.
    @property
    def municipality_id(self) -> int | None: ...


def service_visible(owned: _ServiceOwner | None, actor: Actor | None) -> bool:
    """Whether ``actor`` may see a service (or its plug-in record) at all: a service built in
    the admin UI belongs to its municipality and does not exist for anyone else's staff."""
    if owned is None:
        return False
    if owned.municipality_id is None:
        return True
    ids = visible_municipality_ids(actor)
    return ids is None or owned.municipality_id in ids


def visible_service(
    registry: ServiceRegistry, actor: Actor | None, key: str, version: int | None = None
) -> RegisteredService | None:
    """The registered service ``key`` (newest, or ``version``) if ``actor`` may see it, else ``None``."""
    registered = registry.get(key, version)
    return registered if service_visible(registered, actor) else None


def visible_services(registry: ServiceRegistry, actor: Actor | None) -> list[RegisteredService]:
    """The newest version of every service ``actor`` may see, sorted by key."""
    return [registered for registered in registry.latest() if service_visible(registered, actor)]


# -- drafts of online applications -----------------------------------------------------------------
#
# A draft (PortalDraft) is its citizen's alone: only the account that started it sees, saves,
# submits or deletes it. Staff never see drafts, not even their own municipality's: nothing
# has been filed yet.

from app.models.portal import PortalDraft  # noqa: E402


def drafts_clause(actor: Actor | None, entity: Any = PortalDraft) -> ColumnElement[bool]:
    """Which drafts ``actor`` may see, as one WHERE clause on ``entity``: an active citizen's own."""
    if actor is None or not actor.active or not actor.is_citizen:
        return false()
    return entity.user_id == actor.user_id


def visible_drafts(actor: Actor | None, *columns: Any) -> Select[Any]:
    """A SELECT of ``actor``'s own drafts (whole rows or ``columns``), for lists."""
    return _mark(select(*(columns or (PortalDraft,))).where(drafts_clause(actor)), "actor", PortalDraft)


def get_draft(session: Session, actor: Actor | None, draft_id: int) -> PortalDraft:
    """Draft ``draft_id`` if it is ``actor``'s own; :class:`NotFound` otherwise (another
    citizen's draft, staff asking, or no such draft look the same)."""
    if not _valid_id(draft_id):
        raise NotFound(draft_id)
    draft = session.execute(visible_drafts(actor).where(PortalDraft.id == draft_id)).scalar_one_or_none()
    if draft is None:
        raise NotFound(draft_id)
    return draft


# -- notices ---------------------------------------------------------------------------------------
#
# A person's notices (Notification rows addressed to their account) are theirs alone, whatever
# municipality they came from; staff see the delivery state of an application's notifications
# through the application (loaded through a loader). Texts (NotificationText) are read for one
# municipality plus the install-wide ones.

from app.models import Notification  # noqa: E402
from app.models.portal import NotificationText  # noqa: E402


def own_notices(actor: Actor | None, *columns: Any) -> Select[Any]:
    """A SELECT of the in-app notices addressed to ``actor`` (whole rows or ``columns``)."""
    if actor is None or not actor.active:
        clause: ColumnElement[bool] = false()
    else:
        clause = and_(Notification.recipient_user_id == actor.user_id, Notification.channel == "inapp")
    return _mark(select(*(columns or (Notification,))).where(clause), "actor", Notification)


def get_own_notice(session: Session, actor: Actor | None, notice_id: int) -> Notification:
    """Notice ``notice_id`` if it is addressed to ``actor``; :class:`NotFound` otherwise."""
    if not _valid_id(notice_id):
        raise NotFound(notice_id)
    found = session.execute(own_notices(actor).where(Notification.id == notice_id)).scalar_one_or_none()
    if found is None:
        raise NotFound(notice_id)
    return found


def notification_texts(stmt: Stmt, municipality_id: int | None) -> Stmt:
    """``stmt`` (of :class:`NotificationText`) limited to ``municipality_id``'s texts and the
    install-wide ones (no municipality); only the install-wide ones for ``None``."""
    owner = NotificationText.municipality_id
    clause = owner.is_(None) if municipality_id is None else or_(owner.is_(None), owner == municipality_id)
    return _mark(stmt.where(clause), "municipality", NotificationText)


def _notifications_statement(municipality_id: Any, application_id: Any) -> Select[Any]:
    stmt = within(select(Notification), Notification, municipality_id)
    return stmt.where(Notification.application_id == application_id)


# Every notification about an application, oldest first (app.domain.related).
NOTIFICATIONS = related.Kind("notifications", Notification, _notifications_statement, (("id", False),))


def notifications_of(session: Session, application: Application) -> list[Notification]:
    """Every notification about an application loaded through a loader, oldest first."""
    return related.rows(session, application, NOTIFICATIONS)


# -- notification texts: the admin screen ----------------------------------------------------------
#
# The admin screen (app.domain.notification_texts) reads the texts of one municipality the
# actor may see, with the install-wide ones its texts fall back to; another municipality's
# texts do not exist for it.


def notification_texts_of(actor: Actor | None, municipality_id: int | None) -> Select[NotificationText]:
    """A SELECT of the texts ``actor`` may see that apply to ``municipality_id`` (which may be
    posted, so forged): its own and the install-wide ones; the install-wide ones alone for
    ``None`` or a municipality the actor may not see."""
    return notification_texts(scoped(select(NotificationText), NotificationText, actor), municipality_id)


# -- citizen accounts ------------------------------------------------------------------------------
#
# A citizen's profile and the outside identities linked to the account are theirs alone: only
# the account itself reads them here. (Staff see an applicant's details on the application,
# as they were filed, never the profile.)

from app.models.portal import CitizenIdentity, CitizenProfile  # noqa: E402


def _require_citizen(actor: Actor | None) -> Actor:
    if actor is None or not actor.active or not actor.is_citizen:
        raise NotFound("citizen account")
    return actor


def own_profile(session: Session, actor: Actor | None) -> CitizenProfile | None:
    """The citizen profile of ``actor``'s own account (``None`` when it has none yet);
    :class:`NotFound` for anyone who is not an active citizen."""
    citizen = _require_citizen(actor)
    stmt = select(CitizenProfile).where(CitizenProfile.user_id == citizen.user_id)
    return session.execute(stmt).scalar_one_or_none()


def own_identities(session: Session, actor: Actor | None) -> list[CitizenIdentity]:
    """The outside identities linked to ``actor``'s own account, oldest first;
    :class:`NotFound` for anyone who is not an active citizen."""
    citizen = _require_citizen(actor)
    stmt = select(CitizenIdentity).where(CitizenIdentity.user_id == citizen.user_id).order_by(CitizenIdentity.id)
    return list(session.execute(stmt).scalars())


# -- the backstop --------------------------------------------------------------------------------


_owned: dict[str, str] | None = None


@event.listens_for(Mapper, "after_configured")
def _forget_owned_tables() -> None:
    # New models (a plug-in's) were configured: the next check builds the map again.
    global _owned
    _owned = None


def _owned_tables() -> dict[str, str]:
    """Table name -> model name of every municipality-owned model (plug-ins may add some),
    built once after the mappers are configured."""
    global _owned
    if _owned is None:
        _owned = {
            cast(Table, mapper.local_table).name: mapper.class_.__name__
            for mapper in Model.registry.mappers
            if issubclass(mapper.class_, MunicipalityScoped)
        }
    return _owned


def _leaves(from_clause: Any) -> list[Any]:
    # A join reads its two sides; every other FROM is one read.
    if isinstance(from_clause, Join):
        return _leaves(from_clause.left) + _leaves(from_clause.right)
    return [_plain(from_clause)]


def _froms(select_: Select[Any]) -> list[Any]:
    # Without its loader options: a joined eager load adds its own FROM, which the backstop
    # checks as a relationship load (_eager_loads), not as a read of the statement.
    bare = select_._generate()
    bare._with_options = ()
    return [_plain(f) for f in bare.get_final_froms()]


def _correlated(select_: Select[Any], froms: list[Any], around: set[Any]) -> set[Any]:
    """The FROMs of a subquery that SQLAlchemy correlates to the statements around it (so
    they read the outer row), by the rules it renders with: explicit ``correlate()``, or
    automatically when the subquery keeps another FROM of its own."""
    candidates = {f for f in froms if f in around}
    if select_._correlate:
        return candidates & {_plain(f) for f in select_._correlate}
    if select_._correlate_except is not None:
        return candidates - {_plain(f) for f in select_._correlate_except}
    return candidates if select_._auto_correlate and len(froms) > 1 else set()


def _raw_literal(element: Any) -> bool:
    # literal_column("*") (a count) or a bare name reads nothing; anything else may be SQL.
    return isinstance(element, ColumnClause) and element.is_literal and not _NAME.fullmatch(element.name)


_NAME = re.compile(r"[\w.*]+")


@dataclass
class _Reads:
    """What a statement reads: every owned table (by name) with the scope that covers that
    read (``None``: none does), and whether it holds raw SQL (``text()``), which no scope can
    see into. A FROM is covered by the scope of the statement that reads it, naming that
    very table or alias object; a subquery sees the outer scope only through the FROMs it
    correlates (the outer row), never for a FROM of its own."""

    owned: dict[str, str]
    found: list[tuple[str, Scope | None]] = field(default_factory=list)
    raw_sql: bool = False

    def statement(self, stmt: Any, around: dict[Any, Scope | None], inherited: Scope | None) -> None:
        own = stmt.get_execution_options().get(SCOPE_OPTION) if isinstance(stmt, Executable) else None
        scope = own if isinstance(own, Scope) else None
        if inherited is not None:
            scope = inherited if scope is None else inherited | scope
        # Only "everything" (unscoped) reaches into the statements inside: any other scope
        # names FROM objects, and those reach a subquery by correlation.
        deep = scope if scope is not None and scope.froms is None else None
        if isinstance(stmt, TextClause):
            self.raw_sql = True
        elif isinstance(stmt, CompoundSelect):
            for part in stmt.selects:
                self.statement(part, around, scope)
        elif isinstance(stmt, Select):
            here: dict[Any, Scope | None] = {}
            froms = _froms(stmt)
            correlated = _correlated(stmt, froms, set(around))
            for top in froms:
                for leaf in _leaves(top):
                    here[leaf] = around.get(leaf) if top in correlated else self.from_clause(leaf, scope)
                here.setdefault(top, None)
            self.inside(stmt, {**around, **here}, deep)
        elif isinstance(stmt, (Update, Delete)):
            target = _plain(stmt.table)
            self.inside(stmt, {**around, target: self.from_clause(target, scope)}, deep)
        else:
            self.inside(stmt, around, scope)

    def from_clause(self, from_clause: Any, scope: Scope | None) -> Scope | None:
        covered = scope if scope is not None and scope.covers(from_clause) else None
        if isinstance(from_clause, TextClause):
            self.raw_sql = True
        elif isinstance(from_clause, Alias) and isinstance(from_clause.element, TableClause):
            self.read(from_clause.element.name, covered)
        elif isinstance(from_clause, TableClause):
            self.read(from_clause.name, covered)
        elif isinstance(from_clause, AliasedReturnsRows):
            # A derived table (a subquery, a CTE) correlates nothing: its own scopes count.
            self.statement(from_clause.element, {}, scope if scope is not None and scope.froms is None else None)
        return covered

    def read(self, table: str, covered: Scope | None) -> None:
        if table in self.owned:
            self.found.append((self.owned[table], covered))

    def inside(self, stmt: Any, around: dict[Any, Scope | None], inherited: Scope | None) -> None:
        # The statements and raw SQL in a statement's columns and criteria; its FROMs are
        # read above, as FROMs.
        stack = list(stmt.get_children())
        while stack:
            element = stack.pop()
            if isinstance(element, TextClause) or _raw_literal(element):
                self.raw_sql = True
            elif isinstance(element, (SelectBase, UpdateBase)):
                self.statement(element, around, inherited)
            elif not isinstance(element, FromClause) and hasattr(element, "get_children"):
                stack.extend(element.get_children())


def _reads(statement: Any) -> _Reads:
    reads = _Reads(_owned_tables())
    reads.statement(statement, {}, None)
    return reads


def owned_reads(statement: Any) -> dict[str, Scope | None]:
    """Each municipality-owned model a statement reads anywhere (as its entities, in a join,
    a subquery, an EXISTS or a count) with the scope that covers it: ``None`` when a read of
    it is covered by no loader here."""
    reads: dict[str, Scope | None] = {}
    for model, covered in _reads(statement).found:
        # One uncovered read of a model is enough to leave it uncovered.
        if model not in reads or reads[model] is not None:
            reads[model] = covered
    return reads


def raw_sql(statement: Any) -> bool:
    """Whether a statement holds raw SQL (``text()``, a literal column or FROM), which no
    loader's scope can see into."""
    return _reads(statement).raw_sql


def owned_models(statement: Any) -> list[str]:
    """The municipality-owned models a statement reads anywhere."""
    return sorted(owned_reads(statement))


def _owned_class(mapper: Any) -> bool:
    return issubclass(mapper.class_, MunicipalityScoped)


def _through_public_rows(path: Any) -> list[str]:
    """What a loader path loads of owned rows through a relationship of a row that is not
    owned (a municipality, a staff profile): such a row was never scoped, so neither are they."""
    return [
        f"{prop.mapper.class_.__name__} loaded through {prop}"
        for prop in getattr(path, "path", ())
        if hasattr(prop, "mapper") and hasattr(prop, "parent") and _owned_class(prop.mapper)
        if not _owned_class(prop.parent)
    ]


def _eager_loads(statement: Any) -> list[str]:
    # Eager-load options: a joined eager load rides inside the statement, past the table walk.
    found = []
    for option in getattr(statement, "_with_options", ()):
        for element in getattr(option, "context", ()):
            found += _through_public_rows(getattr(element, "path", None))
    return found


def unscoped_load(state: ORMExecuteState) -> str | None:
    """What is wrong with a statement about to run through the session, or ``None`` when
    nothing is: a SELECT, UPDATE or DELETE that reads municipality-owned rows (as its
    entities, in a join, a subquery or a count) that none of the loaders here limited, one
    that loads them through a relationship of a row that is not owned (lazily or eagerly),
    or raw SQL (``text()``), which no scope can see into, unless it is :func:`unscoped`.

    During a request an owned row enters the session only through such a checked load (or is
    created there), so the owned rows its relationships reach, and its own expired columns,
    are loaded without a second check. A :class:`Municipality` is public (any page may list
    them), but its owned rows are not: ``municipality.departments`` fails like an unscoped
    query of departments. A flush writes the rows the session holds, so it is not checked;
    an INSERT only creates rows.
    """
    if state.is_column_load or state.is_insert:
        return None
    if state.is_select and state.is_relationship_load:
        path = state.loader_strategy_path
        problems = _through_public_rows(path)
        if path is None and (models := owned_models(state.statement)):
            problems = [f"{', '.join(models)} loaded through a relationship"]
    else:
        scope = state.execution_options.get(SCOPE_OPTION)
        if isinstance(scope, Scope) and scope.froms is None:
            return None
        reads = _reads(state.statement)
        models = sorted({model for model, covered in reads.found if covered is None})
        problems = [f"unscoped query of {', '.join(models)}"] if models else []
        if reads.raw_sql:
            problems.append("raw SQL (text()) is not scoped")
        problems += _eager_loads(state.statement)
    if not problems:
        return None
    return (
        f"{'; '.join(problems)}: build it with app.domain.access "
        "(visible_applications, get_application, scoped, within, correlated, or unscoped with a reason)"
    )


class ShapeVerdicts:
    """:func:`unscoped_load`'s answers remembered per statement *shape*, for production's
    "log" mode (app.web). The check walks and compiles each statement (about half the cost
    of a page); a shape is the statement's SQLAlchemy cache key (its SQL with the values left
    out) with how it was loaded and the tables its loader limited, so a code path is checked
    the first time it runs in a process and not again. What this gives up: a statement of the
    very shape a loader builds, written by hand elsewhere (the same WHERE clause, unmarked), is
    not reported once the loader's has been seen; it reads only what the loader's would. Tests
    and development ("raise") check every statement. Statements without a cache key, or
    whose scope names an alias (an object per call), are always checked."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._verdicts: dict[Any, str | None] = {}
        self._lock = threading.Lock()

    def check(self, state: ORMExecuteState) -> str | None:
        key = _shape(state)
        if key is None:
            return unscoped_load(state)
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
        verdict = unscoped_load(state)
        with self._lock:
            if len(self._verdicts) >= self.size:
                # Shapes are few (one per code path); a flood means something varies that
                # should not, and forgetting everything is the safe answer.
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict


def _shape(state: ORMExecuteState) -> tuple[Any, ...] | None:
    # SQLAlchemy's own key of its compiled-statement cache (the SQL without the values).
    generate = getattr(state.statement, "_generate_cache_key", None)
    cache_key = generate() if generate is not None else None
    if cache_key is None:
        return None
    scope = state.execution_options.get(SCOPE_OPTION)
    limited: tuple[str, ...] | None = None
    if isinstance(scope, Scope) and scope.froms is not None:
        if not all(isinstance(f, Table) for f in scope.froms):
            return None
        limited = tuple(sorted(cast(Table, f).fullname for f in scope.froms))
    path = state.loader_strategy_path if state.is_relationship_load else None
    return (
        cache_key.key,
        state.is_column_load,
        state.is_insert,
        state.is_relationship_load,
        None if path is None else tuple(getattr(path, "path", ())),
        isinstance(scope, Scope),
        limited,
    )


# -- acting on an application -------------------------------------------------------------------
#
# Seeing an application (the loaders above) is not acting on it: these answer who may file,
# submit, speak for the applicant and read personal data. The workflow adds what belongs to
# its steps (the step's role, the responsible department, self-approval).

# A municipality's own staff who work its cases: they file and resubmit for citizens, write
# internal comments and read personal data. Auditors check that the process was followed,
# which needs neither a passport scan nor a public service number, and system administrators
# run the installation, not cases.
CASEWORKER_ROLES = (roles.CLERK, roles.SPECIALIST, roles.HEAD, roles.MUNICIPAL_ADMIN)


def staff_of(actor: Actor | None, municipality_id: int) -> TypeGuard[Actor]:
    """Whether ``actor`` is an active member of the staff of ``municipality_id``. Acting takes
    a municipality's own people: a system administrator sees every municipality, acts for none."""
    return actor is not None and actor.active and actor.municipality_id == municipality_id


def same_municipality(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    """Whether ``actor`` is active staff of the application's municipality."""
    return staff_of(actor, application.municipality_id)


def caseworker_of(actor: Actor | None, municipality_id: int) -> TypeGuard[Actor]:
    """Whether ``actor`` works the cases of ``municipality_id`` (:data:`CASEWORKER_ROLES`)."""
    return staff_of(actor, municipality_id) and actor.has(*CASEWORKER_ROLES)


def may_file_for(actor: Actor | None, municipality_id: int, channel: str) -> TypeGuard[Actor]:
    """Whether ``actor`` may file a new application with ``municipality_id`` through
    ``channel``: online a citizen files for themselves, with any municipality; through the
    office or the API only the municipality's caseworkers file, for a citizen."""
    if actor is None or not actor.active:
        return False
    if channels.require(channel) == channels.ONLINE:
        return actor.is_citizen
    return caseworker_of(actor, municipality_id)


def is_applicant(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    """Whether ``actor`` is the applicant (the account it was filed under) or who filed it.

    Who filed counts only while still a caseworker of the municipality: filing was done in
    that job, and a clerk who became an auditor (or left) must not withdraw the case later."""
    if actor is None or not actor.active:
        return False
    if actor.user_id == application.applicant_user_id:
        return True
    return actor.user_id == application.created_by_id and caseworker_of(actor, application.municipality_id)


def may_submit(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    """Whether ``actor`` may submit the draft ``application``: its applicant or whoever
    created it, or a caseworker of its municipality."""
    return is_applicant(actor, application) or caseworker_of(actor, application.municipality_id)


def speaks_for_applicant(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    """Whether ``actor`` may resubmit or withdraw ``application`` in the applicant's name:
    the applicant, whoever filed it, or a front-office clerk of its municipality."""
    return is_applicant(actor, application) or (same_municipality(actor, application) and actor.has(roles.CLERK))


def may_see_personal_data(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    """Whether ``actor`` may read the personal data of ``application`` (fields declared
    ``personal=True``, the applicant's public service number, phone, e-mail and address)
    and open its documents: the caseworkers of its municipality, and the applicant's own
    account (``applicant_user_id``: their own data and scans, filed online or claimed with the
    receipt's code). Everyone else who may see the application gets them masked."""
    return caseworker_of(actor, application.municipality_id) or _own_account(actor, application)


def _own_account(actor: Actor | None, application: Application) -> TypeGuard[Actor]:
    # The account the application is filed under, not whoever filed it (a clerk who filed
    # it reads it as a caseworker or not at all).
    return (
        actor is not None
        and actor.active
        and application.applicant_user_id is not None
        and actor.user_id == application.applicant_user_id
    )


# -- a citizen's applications: the municipality's own words for them ---------------------------------

from app.models import ServiceActivation  # noqa: E402


def status_texts_of(session: Session, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
    """The municipalities' own citizen-facing words per status
    (:attr:`ServiceActivation.status_texts`) for ``(municipality id, service key)`` pairs, in
    one query. Public words (the status look-up shows them to anyone holding a receipt), so
    read across the municipalities named, whoever asks."""
    wanted = {(int(mid), str(key)) for mid, key in pairs}
    if not wanted:
        return {}
    # Rows this transaction loaded whole already (a filing reads its service's row first): not
    # read again. Only when every pair is among them; otherwise one query for all.
    loaded = {
        (row.municipality_id, row.service_key): row.status_texts
        for row in session.identity_map.values()
        if isinstance(row, ServiceActivation) and "status_texts" in row.__dict__
    }
    if wanted <= loaded.keys():
        return {pair: dict(loaded[pair] or {}) for pair in wanted}
    stmt = unscoped(
        select(ServiceActivation.municipality_id, ServiceActivation.service_key, ServiceActivation.status_texts),
        reason="public: municipalities' own citizen-facing status words",
    ).where(
        ServiceActivation.municipality_id.in_(sorted({mid for mid, _key in wanted})),
        ServiceActivation.service_key.in_(sorted({key for _mid, key in wanted})),
    )
    return {(mid, key): dict(texts or {}) for mid, key, texts in session.execute(stmt).all() if (mid, key) in wanted}


# -- standing in for an absent colleague ---------------------------------------------------------
#
# A substitute (app.domain.substitutes) works an absent colleague's tasks for a period. Who may
# be named and who may name them are act-on rules, so they live here.


def may_stand_in_for(substitute: Actor | None, absent: Actor | None) -> TypeGuard[Actor]:
    """Whether ``substitute`` may stand in for ``absent``: two different, active members of the
    same municipality's staff, the substitute holding each caseworker role the absent person
    has, so every step the absent person works is one the substitute is qualified for. The
    department may differ: a department of one person borrows its substitute from next door."""
    if absent is None or not absent.active or absent.municipality_id is None:
        return False
    if not staff_of(substitute, absent.municipality_id) or substitute.user_id == absent.user_id:
        return False
    needed = absent.roles & frozenset(CASEWORKER_ROLES)
    return bool(needed) and needed <= substitute.roles


def may_arrange_substitute(actor: Actor | None, absent: Actor | None) -> TypeGuard[Actor]:
    """Whether ``actor`` may name (or end) a substitute for ``absent``: the person themselves,
    the head of their department, or their municipality's administrator."""
    if absent is None or absent.municipality_id is None or not staff_of(actor, absent.municipality_id):
        return False
    if actor.user_id == absent.user_id or actor.has(roles.MUNICIPAL_ADMIN):
        return True
    return actor.has(roles.HEAD) and actor.department_id is not None and actor.department_id == absent.department_id


__all__ = [
    "CASEWORKER_ROLES",
    "DOCUMENTS",
    "MAX_PK",
    "NOTIFICATIONS",
    "OWN_PROFILE",
    "SCOPE_OPTION",
    "Actor",
    "NotFound",
    "Scope",
    "ShapeVerdicts",
    "activation_of",
    "applications_clause",
    "caseworker_of",
    "correlated",
    "departments_of",
    "document_of",
    "documents_of",
    "drafts_clause",
    "get_application",
    "get_document",
    "get_draft",
    "get_municipality",
    "get_own_notice",
    "is_applicant",
    "load_actor",
    "may_arrange_substitute",
    "may_file_for",
    "may_see_personal_data",
    "may_stand_in_for",
    "may_submit",
    "municipal_applications",
    "municipality_clause",
    "notification_texts",
    "notification_texts_of",
    "notifications_of",
    "own_department_join",
    "own_identities",
    "own_notices",
    "own_profile",
    "owned_models",
    "owned_reads",
    "raw_sql",
    "same_municipality",
    "scoped",
    "service_visible",
    "speaks_for_applicant",
    "staff_of",
    "status_texts_of",
    "unscoped",
    "unscoped_load",
    "visible_applications",
    "visible_drafts",
    "visible_municipality_ids",
    "visible_service",
    "visible_services",
    "within",
]
