"""Who is acting, and what they may see: the one place that answers it.

Every channel (office, workspace, API, portal, jobs) builds one :class:`Actor` per request,
job or API call, and every query of municipality- or citizen-owned rows goes through the
loaders here. Views never filter by municipality or owner themselves.

Staff see the rows of their own municipality, system administrators every municipality's;
a draft application is its creator's alone until it is submitted. A row the actor may not
see and a row that does not exist are the same answer: :class:`NotFound`.

Every statement built here carries the execution option :data:`SCOPE_OPTION`. The backstop
(:func:`unscoped_load`, installed by the web layer) refuses an ORM SELECT of a
:class:`~app.models.base.MunicipalityOwned` model during a request that lacks it, so a new
query cannot skip the scope by accident. Deliberate exceptions say why: :func:`within` for
queries bounded by a municipality the caller already holds (a row it loaded through a
loader, the actor's own), :func:`unscoped` for the few that must cross municipalities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, and_, false, or_, select, true
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import TableClause

from app.domain import roles, statuses
from app.models import Application, ApplicationDocument, Municipality, StaffProfile, User
from app.models.base import Model, MunicipalityOwned

if TYPE_CHECKING:
    from app.plugins.registry import RegisteredService, ServiceRegistry

# Largest primary key a database integer column holds; anything bigger is simply "not found".
MAX_PK = 2**63 - 1
# The execution option every scoped statement carries; its value says how it was scoped.
SCOPE_OPTION = "hamaynk_scope"


class _Statement(Protocol):
    # What select() and a legacy Query (Flask-AppBuilder's) both offer.
    def where(self, *criteria: Any) -> Self: ...

    def execution_options(self, **options: Any) -> Self: ...


Stmt = TypeVar("Stmt", bound=_Statement)


class NotFound(LookupError):
    """No such row, or one the actor may not see: callers cannot tell the two apart (404)."""


@dataclass(frozen=True)
class Actor:
    """A signed-in person as the domain sees them; no request or ORM object inside.

    Staff act within ``municipality_id``. Citizens (the portal) will add the person they
    are here; :func:`applications_clause` is where their own applications become visible.
    """

    user_id: int
    roles: frozenset[str]
    active: bool
    municipality_id: int | None
    department_id: int | None

    def has(self, *role_names: str) -> bool:
        return any(name in self.roles for name in role_names)

    @property
    def is_system_admin(self) -> bool:
        return roles.SYSTEM_ADMIN in self.roles


def load_actor(session: Session, actor_id: int | None) -> Actor | None:
    """The actor for a user id (once per request, job or API call); ``None`` for no such user."""
    if actor_id is None:
        return None
    user = session.get(User, actor_id)
    if user is None:
        return None
    profile = session.execute(select(StaffProfile).where(StaffProfile.user_id == actor_id)).scalar_one_or_none()
    return Actor(
        user_id=user.id,
        roles=frozenset(role.name for role in user.roles),
        active=bool(user.active),
        municipality_id=profile.municipality_id if profile else None,
        department_id=profile.department_id if profile else None,
    )


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
    return model.id if model is Municipality else model.municipality_id


def municipality_clause(model: Any, actor: Actor | None) -> ColumnElement[bool]:
    """The WHERE clause limiting ``model`` (any model with a ``municipality_id``, or
    :class:`Municipality` itself) to the municipalities ``actor`` may see."""
    ids = visible_municipality_ids(actor)
    if ids is None:
        return true()
    if not ids:
        return false()
    return _owner_column(model).in_(sorted(ids))


def _mark(stmt: Stmt, how: str) -> Stmt:
    return stmt.execution_options(**{SCOPE_OPTION: how})


def scoped(stmt: Stmt, model: Any, actor: Actor | None) -> Stmt:
    """``stmt`` (a ``select()`` or a legacy ``Query``) limited to the rows of ``model`` that
    ``actor`` may see. For applications use :func:`visible_applications`: drafts are private."""
    return _mark(stmt.where(municipality_clause(model, actor)), "actor")


def within(stmt: Stmt, model: Any, municipality_id: int) -> Stmt:
    """``stmt`` limited to one municipality the caller already holds: that of a row it loaded
    through a loader here, or the actor's own. For domain code that works on behalf of such
    a row (an application's activation, holidays, history)."""
    return _mark(stmt.where(_owner_column(model) == municipality_id), "municipality")


def unscoped(stmt: Stmt, *, reason: str) -> Stmt:
    """``stmt`` as it is, deliberately across municipalities; ``reason`` says why (it shows in
    the code and in the query's options, for whoever reviews it)."""
    if not reason:
        raise ValueError("say why the query may cross municipalities")
    return _mark(stmt, f"unscoped: {reason}")


# -- applications --------------------------------------------------------------------------------


def applications_clause(actor: Actor | None) -> ColumnElement[bool]:
    """Which applications ``actor`` may see, as one WHERE clause.

    Each way of reaching an application is one clause of the ``or_``: today staff see their
    municipality's. The portal adds the applicant's own here, as one more clause. Whoever
    reaches it, a draft stays its creator's until it is submitted.
    """
    if actor is None or not actor.active:
        return false()
    ways = [municipality_clause(Application, actor)]
    return and_(or_(*ways), or_(Application.status != statuses.DRAFT, Application.created_by_id == actor.user_id))


def visible_applications(actor: Actor | None, *columns: Any) -> Select[Any]:
    """A SELECT of the applications ``actor`` may see (whole rows, or ``columns`` of them),
    for lists: add filters, order and limit as needed."""
    return _mark(select(*(columns or (Application,))).where(applications_clause(actor)), "actor")


def get_application(session: Session, actor: Actor | None, application_id: int) -> Application:
    """The application ``application_id`` if ``actor`` may see it; :class:`NotFound` when it does
    not exist, belongs to a municipality the actor may not see, or is someone else's draft.
    Views answer 404, the API its 404 JSON: the three cases look the same from outside."""
    if not isinstance(application_id, int) or not 0 < application_id <= MAX_PK:
        raise NotFound(application_id)
    application = session.execute(
        visible_applications(actor).where(Application.id == application_id)
    ).scalar_one_or_none()
    if application is None:
        raise NotFound(application_id)
    return application


def get_document(session: Session, actor: Actor | None, application_id: int, document_id: int) -> ApplicationDocument:
    """Document ``document_id`` of application ``application_id``, if ``actor`` may see that
    application (:func:`get_application`); else :class:`NotFound`. ``document.application`` is
    the visible application. Seeing that a document exists is not opening it: who may open
    personal data is :func:`app.domain.casefile.may_see_personal`."""
    return document_of(session, get_application(session, actor, application_id), document_id)


def document_of(session: Session, application: Application, document_id: int) -> ApplicationDocument:
    """Document ``document_id`` of an application loaded through :func:`get_application`;
    :class:`NotFound` when the application has no such document."""
    if not isinstance(document_id, int) or not 0 < document_id <= MAX_PK:
        raise NotFound(document_id)
    document = session.execute(
        within(select(ApplicationDocument), ApplicationDocument, application.municipality_id).where(
            ApplicationDocument.id == document_id, ApplicationDocument.application_id == application.id
        )
    ).scalar_one_or_none()
    if document is None:
        raise NotFound(document_id)
    return document


def documents_of(session: Session, application: Application) -> list[ApplicationDocument]:
    """The documents of an application loaded through :func:`get_application`, in upload order."""
    stmt = within(select(ApplicationDocument), ApplicationDocument, application.municipality_id)
    return list(
        session.execute(
            stmt.where(ApplicationDocument.application_id == application.id).order_by(ApplicationDocument.id)
        ).scalars()
    )


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


# -- the backstop --------------------------------------------------------------------------------


def _owned_tables() -> dict[str, str]:
    """Table name -> model name of every municipality-owned model (plug-ins may add some)."""
    return {
        cast(Table, mapper.local_table).name: mapper.class_.__name__
        for mapper in Model.registry.mappers
        if issubclass(mapper.class_, MunicipalityOwned)
    }


def owned_models(statement: Any) -> list[str]:
    """The municipality-owned models a statement reads anywhere: as its entities, in a join,
    a subquery, an EXISTS or a count."""
    owned = _owned_tables()
    found = set()
    for element in visitors.iterate(statement):
        table = element if isinstance(element, TableClause) else getattr(element, "table", None)
        if isinstance(table, TableClause) and table.name in owned:
            found.add(owned[table.name])
    return sorted(found)


def unscoped_load(state: ORMExecuteState) -> str | None:
    """What is wrong with an ORM statement about to run, or ``None`` when nothing is: a SELECT
    that reads municipality-owned rows (as its entities, in a join, a subquery or a count)
    and came through none of the loaders here.

    Loads that start from a row already loaded (its relationships, its expired columns) are
    fine: the row itself went through a loader.
    """
    if not state.is_select or state.is_relationship_load or state.is_column_load:
        return None
    if state.execution_options.get(SCOPE_OPTION):
        return None
    models = owned_models(state.statement)
    if not models:
        return None
    return (
        f"unscoped query of {', '.join(models)}: build it with app.domain.access "
        "(visible_applications, get_application, scoped, within, or unscoped with a reason)"
    )


__all__ = [
    "MAX_PK",
    "SCOPE_OPTION",
    "Actor",
    "NotFound",
    "applications_clause",
    "document_of",
    "documents_of",
    "get_application",
    "get_document",
    "load_actor",
    "municipality_clause",
    "owned_models",
    "scoped",
    "service_visible",
    "unscoped",
    "unscoped_load",
    "visible_applications",
    "visible_municipality_ids",
    "visible_service",
    "visible_services",
    "within",
]
