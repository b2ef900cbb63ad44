"""Services built in the admin UI ("builder" services): saving, importing, exporting, and
keeping every process's registry in step with the database.

A builder service is a definition-file document stored in ``service_definition``, one
immutable row per version. It goes through exactly the path a definition file takes —
:func:`app.plugins.definitions.service_from_dict`, then :func:`app.plugins.registry.validate_service` —
so the admin UI can never store a service that a plug-in could not declare.

Freshness across processes: each request first asks the database for ``max(id), count(id)``
of ``service_definition`` (one cheap query, once per request). When that differs from what
this process loaded, the builder services are read again and swapped into the registry in
one assignment (see :meth:`app.plugins.registry.ServiceRegistry.replace`). Code running outside a
request (jobs, tests) calls :func:`refresh_if_changed` itself.

Nothing here needs a request; the admin view in app.admin.builder is a thin layer on top.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import yaml
from flask import Flask, g, has_app_context
from flask_babel import gettext as _
from sqlalchemy import Select, event, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.domain import access, audit
from app.domain.access import Actor
from app.domain.declarations import Service, choice_condition_problems
from app.extensions import current_flask_app, db
from app.models import ServiceDefinition
from app.plugins.definitions import DefinitionError, parse_definition_text, service_from_dict, service_to_dict
from app.plugins.host import ACTIVE, DISABLED, PluginHost, PluginRecord
from app.plugins.registry import RegisteredService, validate_service

log = logging.getLogger(__name__)

SOURCE = "builder"
ORIGIN = "service_definition"
# A real service definition is a few kilobytes; anything near this is a mistake or an attack.
MAX_DEFINITION_BYTES = 256 * 1024
# Deeper than this, a definition is not a service but an attempt to exhaust the parser.
MAX_NESTING = 20


def record_name(key: str) -> str:
    return f"{SOURCE}:{key}"


class BuilderError(ValueError):
    """A definition cannot be saved. ``problems`` are the exact technical sentences (from the
    definition loader and the registry, in English, as plug-in authors see them); ``str()``
    is a translated headline for the person at the screen. Nothing was written."""

    def __init__(self, headline: str, problems: Iterable[str] = ()) -> None:
        self.headline = headline
        self.problems = list(problems)
        super().__init__(headline)


# -- keys made from titles ------------------------------------------------------------------------

# Armenian and Russian letters in Latin, for keys made from a title. Our own table (close to
# the BGN/PCGN romanisations, without diacritics): a key only has to be readable and stable,
# and a library would bring far more than these two alphabets.
_ARMENIAN = {
    "ա": "a", "բ": "b", "գ": "g", "դ": "d", "ե": "e", "զ": "z", "է": "e", "ը": "y", "թ": "t",
    "ժ": "zh", "ի": "i", "լ": "l", "խ": "kh", "ծ": "ts", "կ": "k", "հ": "h", "ձ": "dz",
    "ղ": "gh", "ճ": "ch", "մ": "m", "յ": "y", "ն": "n", "շ": "sh", "ո": "o", "չ": "ch",
    "պ": "p", "ջ": "j", "ռ": "r", "ս": "s", "վ": "v", "տ": "t", "ր": "r", "ց": "ts",
    "ւ": "v", "փ": "p", "ք": "k", "և": "ev", "օ": "o", "ֆ": "f",
}  # fmt: skip
_RUSSIAN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip
TRANSLITERATION: Mapping[str, str] = {**_ARMENIAN, **_RUSSIAN}
# Word-initial Armenian vowels sound with a glide (Երևան → yerevan, Որոշում → voroshum).
_WORD_INITIAL = {"ե": "ye", "ո": "vo"}
# Keys are permanent and appear in URLs and exports: long enough to read, short enough to type.
KEY_LENGTH = 50


def latin_key(title: str | None, separator: str = "-", limit: int = KEY_LENGTH) -> str:
    """A key made from ``title``: Armenian and Russian letters spelled in Latin, lower case,
    words joined by ``separator`` ("-" for service keys, "_" for field, document and step
    keys), starting with a letter. Empty when the title has no letter to start with."""
    text = (title or "").lower().replace("ու", "u")
    out: list[str] = []
    at_word_start = True
    for char in text:
        if at_word_start and char in _WORD_INITIAL:
            out.append(_WORD_INITIAL[char])
        elif char in TRANSLITERATION:
            out.append(TRANSLITERATION[char])
        elif char.isascii() and char.isalnum():
            out.append(char)
        else:
            out.append(" ")
        at_word_start = out[-1] == " "
    words = "".join(out).split()
    while words and not words[0][0].isalpha():
        words.pop(0)
    key = ""
    for word in words:
        longer = f"{key}{separator}{word}" if key else word
        if len(longer) > limit:
            break
        key = longer
    if not key and words:
        key = words[0][:limit]
    return key


def key_is_free(session: Session, key: str, app: Flask | None = None) -> bool:
    """Whether no builder service (of any municipality) and no plug-in uses ``key``.

    Says nothing about whose key it is: a taken key is refused without naming the owner."""
    host = _host(app or current_flask_app())
    if any(r.key == key for r in host.registry.all()):
        return False
    taken = access.unscoped(select(ServiceDefinition.id), reason="a service key is unique across municipalities")
    return session.execute(taken.where(ServiceDefinition.key == key).limit(1)).first() is None


def free_key(session: Session, base: str, app: Flask | None = None) -> str:
    """``base``, or ``base-2``, ``base-3`` … the first that no service uses."""
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base[: KEY_LENGTH - 4]}-{n}"
        if key_is_free(session, candidate, app):
            return candidate
    return base


def definition_problems(data: Mapping[str, Any], app: Flask | None = None) -> list[str]:
    """What :func:`save` would refuse in ``data`` itself (not the key's owner), as the
    technical sentences plug-in authors read; empty when the definition is valid."""
    host = _host(app or current_flask_app())
    try:
        # The version is assigned on save; any valid one will do for checking.
        service = service_from_dict({"version": 1, **data}, str(data.get("key") or "definition"))
    except DefinitionError as exc:
        return [str(exc)]
    return checked(service, host.registry.field_types)


def checked(service: Service, field_types: Mapping[str, Any]) -> list[str]:
    """:func:`validate_service`, also for values of the wrong type.

    Plug-in code is typed by its author; an uploaded file can put a list where a number
    belongs, and the registry's comparisons would then raise instead of reporting."""
    try:
        problems = validate_service(service, field_types, None)
    except (TypeError, ValueError) as exc:
        return [f"a value has the wrong type: {exc}"]
    # Until the registry checks it for every source, the builder at least refuses it.
    known = set(problems)
    return problems + [p for p in choice_condition_problems(service) if p not in known]


# -- loading into the registry ----------------------------------------------------------------


# How often a process looks for services saved by another process (seconds; 0: on every
# request). Each look is a query (max/count of service_definition); asking it on every page
# was a fixed cost of every request, for a table that changes a few times a month. A save in
# this process reloads at once (the builder refreshes, and any commit that writes a
# definition makes the next request look); another process's save shows within this delay.
RECHECK_SECONDS = "HAMAYNK_BUILDER_RECHECK_SECONDS"
DEFAULT_RECHECK_SECONDS = 2.0
# The clock of those looks (a seam for tests).
_clock = time.monotonic


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    marker: Any = "never loaded"
    # _clock() of the last look at the table; -inf: look on the next request.
    checked_at: float = -math.inf


def _state(app: Flask) -> _State:
    return app.extensions.setdefault("hamaynk.builder", _State())


def _host(app: Flask) -> PluginHost:
    return app.extensions["hamaynk.plugins"]


def _marker(conn) -> tuple[int | None, int]:
    row = conn.execute(select(func.max(ServiceDefinition.id), func.count(ServiceDefinition.id))).one()
    return (row[0], int(row[1]))


def _read_rows(conn) -> list[Any]:
    table = ServiceDefinition.__table__
    return list(conn.execute(select(table).order_by(table.c.key, table.c.version)))


def build_records(host: PluginHost, rows: Iterable[Any]) -> tuple[list[PluginRecord], list[RegisteredService]]:
    """Plug-in records (``builder:<key>``) and registered services for stored definitions.

    Each key is validated like a plug-in: one bad version disables that key (shown with its
    error on the Plug-ins page) and leaves every other service alone. Stored data is not
    code, so even a strict host does not raise here: one bad row must not stop requests.
    """
    by_key: dict[str, list[Any]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    taken = {r.key: r.plugin for r in host.registry.all() if r.source != SOURCE}
    records, services = [], []
    for key in sorted(by_key):
        versions = by_key[key]
        record = PluginRecord(
            name=record_name(key),
            source=SOURCE,
            origin=ORIGIN,
            version=str(versions[-1].version),
            municipality_id=versions[-1].municipality_id,
        )
        records.append(record)
        problems: list[str] = []
        loaded: list[RegisteredService] = []
        if key in taken:
            # Kept: the plug-in or file declaring the key is refused instead (_install).
            log.warning("service key %r of %s is also declared by %r", key, record.name, taken[key])
        for row in versions:
            where = f"{key} version {row.version}"
            try:
                service = service_from_dict(row.definition, where)
            except DefinitionError as exc:
                problems.append(str(exc))
                continue
            if (service.key, service.version) != (row.key, row.version):
                problems.append(f"{where}: the stored definition says {service.key!r} version {service.version!r}")
                continue
            found = checked(service, host.registry.field_types)
            if found:
                problems.append(f"{where}: " + "; ".join(found))
                continue
            loaded.append(RegisteredService(service, record.name, SOURCE, None, row.municipality_id))
        if problems:
            record.status = DISABLED
            record.error = "; ".join(problems)
            continue
        record.status = ACTIVE
        record.services = [(r.key, r.version) for r in loaded]
        services.extend(loaded)
    return records, services


def _install(host: PluginHost, records: list[PluginRecord], services: list[RegisteredService]) -> None:
    # A stored service keeps its key; a plug-in or definition file that declares it too is
    # refused, naming both (PluginHost.refuse_clashing).
    host.refuse_clashing({r.key: record_name(r.key) for r in services})
    host.registry.replace(lambda r: r.source == SOURCE, services)
    kept = {name: r for name, r in host.records.items() if r.source != SOURCE}
    kept.update({r.name: r for r in records})
    # One assignment: the Plug-ins page iterating the old dict is not disturbed.
    host.records = kept


def refresh(app: Flask | None = None, force: bool = False) -> bool:
    """Reload builder services when the table changed (or always, with ``force``).

    Reads through its own connection, so the caller's session and transaction are untouched.
    Returns whether the registry was reloaded. A missing table (a database not migrated
    yet) counts as "no builder services".
    """
    app = app or current_flask_app()
    state = _state(app)
    marker: tuple[int | None, int] | str
    with state.lock, app.app_context():
        state.checked_at = _clock()
        try:
            with db.engine.connect() as conn:
                marker = _marker(conn)
                if not force and marker == state.marker:
                    return False
                rows = _read_rows(conn)
        except SQLAlchemyError:
            log.debug("service_definition cannot be read; no builder services", exc_info=True)
            marker, rows = "unreadable", []
            if not force and marker == state.marker:
                return False
        records, services = build_records(_host(app), rows)
        _install(_host(app), records, services)
        state.marker = marker
        return True


def refresh_if_changed(app: Flask | None = None) -> bool:
    return refresh(app, force=False)


def _before_request() -> None:
    from flask import request

    # Stylesheets, scripts and fonts never read the registry: no query for them.
    if g.get("_hamaynk_builder_checked") or (request.endpoint or "").endswith("static"):
        return
    g._hamaynk_builder_checked = True
    app = current_flask_app()
    wait = float(app.config.get(RECHECK_SECONDS, DEFAULT_RECHECK_SECONDS))
    if _clock() - _state(app).checked_at < wait:
        return
    refresh_if_changed(app)


def _request_done(_error: BaseException | None) -> None:
    # A test client's requests can share one ``g``; each request decides for itself.
    g.pop("_hamaynk_builder_checked", None)


_WROTE_DEFINITION = "hamaynk.wrote_service_definition"


def _note_definition_writes(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(obj, ServiceDefinition) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_WROTE_DEFINITION] = True


def _look_on_next_request(session: Session) -> None:
    # A definition committed by this process (by whatever path): the next request looks.
    if session.info.pop(_WROTE_DEFINITION, False) and has_app_context():
        _state(current_flask_app()).checked_at = -math.inf


def _forget_definition_writes(session: Session) -> None:
    session.info.pop(_WROTE_DEFINITION, None)


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    refresh(app, force=True)
    app.before_request(_before_request)
    app.teardown_request(_request_done)
    if not _listening:
        event.listen(Session, "before_flush", _note_definition_writes)
        event.listen(Session, "after_commit", _look_on_next_request)
        event.listen(Session, "after_rollback", _forget_definition_writes)
        _listening = True


# -- reading -------------------------------------------------------------------------------------


def latest_definitions(session: Session, actor: Actor | None) -> list[ServiceDefinition]:
    """The newest row of every builder service ``actor`` may edit: one query.

    A municipal admin sees their own municipality's services; global ones belong to the
    system administrator and are not theirs to edit.
    """
    versions = select(ServiceDefinition.key, func.max(ServiceDefinition.version).label("version"))
    newest = _editable(versions, actor).group_by(ServiceDefinition.key).subquery()
    stmt = (
        select(ServiceDefinition)
        .join(newest, (ServiceDefinition.key == newest.c.key) & (ServiceDefinition.version == newest.c.version))
        .order_by(ServiceDefinition.key)
    )
    return list(session.execute(_editable(stmt, actor)).scalars())


def latest_definition(
    session: Session, actor: Actor | None, key: str, version: int | None = None
) -> ServiceDefinition | None:
    """The newest row of ``key`` (or its ``version``) if ``actor`` may edit it, else ``None``."""
    stmt = select(ServiceDefinition).where(ServiceDefinition.key == key)
    if version is not None:
        stmt = stmt.where(ServiceDefinition.version == version)
    stmt = stmt.order_by(ServiceDefinition.version.desc()).limit(1)
    return session.execute(_editable(stmt, actor)).scalar_one_or_none()


def _editable(stmt: Select[*tuple[Any, ...]], actor: Actor | None) -> Select[*tuple[Any, ...]]:
    # Everyone sees a system-wide service (no municipality); only a system administrator edits it.
    stmt = access.scoped(stmt, ServiceDefinition, actor)
    if actor is not None and actor.is_system_admin:
        return stmt
    return stmt.where(ServiceDefinition.municipality_id.is_not(None))


def export_text(row: ServiceDefinition) -> str:
    """The definition-file YAML of one stored version (loadable by HAMAYNK_SERVICE_DIRS too)."""
    return yaml.safe_dump(row.definition, allow_unicode=True, sort_keys=False, default_flow_style=False)


# -- parsing uploads -----------------------------------------------------------------------------


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            return level
        if isinstance(item, Mapping):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse_upload(content: bytes, filename: str) -> dict[str, Any]:
    """An uploaded definition file as a dict, or :class:`BuilderError`.

    Only plain YAML or JSON data is accepted: no tags that build Python objects (safe
    loading), no anchors or aliases (a few bytes of them expand into gigabytes when walked),
    nothing above :data:`MAX_DEFINITION_BYTES`, and one service per file.
    """
    headline = _("The file is not a service definition.")
    if len(content) > MAX_DEFINITION_BYTES:
        raise BuilderError(
            _("The file is too large: a service definition is at most %(kb)d KB.", kb=MAX_DEFINITION_BYTES // 1024)
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise BuilderError(headline, ["the file is not UTF-8 text"]) from None
    fmt = "json" if filename.lower().endswith(".json") else "yaml"
    try:
        if fmt == "yaml":
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise BuilderError(
                        headline, ["YAML anchors and aliases (& and *) are not allowed in a service definition"]
                    )
        data = parse_definition_text(text, fmt, filename or "upload")
    except DefinitionError as exc:
        raise BuilderError(headline, [str(exc)]) from None
    except yaml.YAMLError as exc:
        raise BuilderError(headline, [f"not valid YAML: {exc}"]) from None
    except RecursionError:
        raise BuilderError(headline, ["the file is nested too deeply"]) from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise BuilderError(headline, [f"expected one service (a mapping) at the top, got {type(data).__name__}"])
    if _depth(data, MAX_NESTING) > MAX_NESTING:
        raise BuilderError(headline, ["the file is nested too deeply"])
    return data


# -- saving --------------------------------------------------------------------------------------

CREATE = "create"
EDIT = "edit"
IMPORT = "import"


def save(
    session: Session,
    data: Mapping[str, Any],
    *,
    mode: str,
    owner_municipality_id: int | None,
    actor_id: int | None,
    viewer_municipality_ids: AbstractSet[int] | None,
    key: str | None = None,
    app: Flask | None = None,
) -> ServiceDefinition:
    """Validate ``data`` (the definition-file format) and store it as the next version.

    ``mode`` is ``create`` (the key must be new), ``edit`` (``key`` must exist and be visible
    to the viewer; its owner is kept) or ``import`` (either). The version in ``data`` is
    ignored: versions are assigned here, so an edit can never overwrite what applications
    were filed under. Flushes, does not commit; raises :class:`BuilderError` having added
    nothing to the session.
    """
    app = app or current_flask_app()
    host = _host(app)
    payload = dict(data)
    if key is not None:
        payload["key"] = key
    wanted_key = payload.get("key")
    if not isinstance(wanted_key, str) or not wanted_key:
        raise BuilderError(_("The service cannot be saved."), ["definition: missing required key(s) ['key']"])
    # A key is unique across municipalities: a taken one is refused below without saying whose.
    taken = access.unscoped(select(ServiceDefinition), reason="a service key is unique across municipalities")
    rows = list(session.execute(taken.where(ServiceDefinition.key == wanted_key)).scalars())
    current = max(rows, key=lambda r: r.version) if rows else None
    if current is not None and (
        viewer_municipality_ids is not None and current.municipality_id not in viewer_municipality_ids
    ):
        # Someone else's service: say only that the key is taken, nothing about whose.
        raise BuilderError(_("The key %(key)s is already used by another service; choose another key.", key=wanted_key))
    if mode == CREATE and current is not None:
        raise BuilderError(_("The key %(key)s is already used by another service; choose another key.", key=wanted_key))
    if mode == EDIT and current is None:
        raise BuilderError(_("There is no service %(key)s.", key=wanted_key))
    if current is not None:
        owner_municipality_id = current.municipality_id
    version = current.version + 1 if current is not None else 1
    payload["version"] = version

    plugin = next((r.plugin for r in host.registry.all() if r.key == wanted_key and r.source != SOURCE), None)
    if plugin is not None:
        raise BuilderError(
            _("The key %(key)s is already used by an installed plug-in; choose another key.", key=wanted_key),
            [f"service key {wanted_key!r} is already used by plug-in {plugin!r}"],
        )
    try:
        service = service_from_dict(payload, wanted_key if isinstance(wanted_key, str) else "definition")
    except DefinitionError as exc:
        raise BuilderError(_("The service cannot be saved."), [str(exc)]) from None
    problems = checked(service, host.registry.field_types)
    if problems:
        raise BuilderError(_("The service cannot be saved."), problems)

    # Through JSON and back: what is stored is exactly what a later load will read (YAML
    # dates in conditions become the ISO strings that date fields hold).
    definition = json.loads(json.dumps(service_to_dict(service), default=str))
    row = ServiceDefinition(
        key=service.key,
        version=version,
        definition=definition,
        municipality_id=owner_municipality_id,
        created_by_id=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
            audit.record(
                session,
                "service.definition",
                actor=actor_id,
                target=("service", service.key),
                municipality_id=owner_municipality_id,
                details={"version": version, "mode": mode},
            )
    except IntegrityError:
        # Someone saved the same version a moment earlier.
        raise BuilderError(_("Someone else changed this service meanwhile; reload the page and try again.")) from None
    return row


def service_of(row: ServiceDefinition) -> Service:
    """The declaration a stored row holds (rows were validated on save)."""
    return service_from_dict(row.definition, f"{row.key} version {row.version}")
