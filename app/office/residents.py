"""Front office: verified residents. A clerk finds a citizen's account (by name, e-mail or
public service number), checks a document the person shows, and verifies (or renews) their
residency in a settlement of the municipality, or revokes it with a reason.

Thin: app.domain.participation.residency finds, decides, writes and audit-logs; this reads
the form, commits and renders. One person and municipality have one residency row, so the
pages address a person (``user_id``), never a residency id.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access
from app.domain.errors import NotAllowed
from app.domain.participation import residency
from app.extensions import db
from app.i18n import current_locale, format_date


def _form_id(name: str) -> int | None:
    """A posted id: ``None`` when left empty, 0 (which no row has) when it is no id at all."""
    raw = request.form.get(name, "")
    if raw == "":
        return None
    if not isinstance(raw, str) or not raw.isdecimal() or len(raw) > len(str(access.MAX_PK)):
        return 0
    return int(raw)


class ResidentsView(BaseView):
    """Find a citizen; verify, renew or revoke their residency in this municipality."""

    route_base = "/office/residents"
    class_permission_name = "OfficeResidents"
    method_permission_name = {"index": "list", "person": "list", "verify": "verify", "revoke": "verify"}
    default_view = "index"

    def _municipality_id(self) -> int:
        actor = web.require_actor()
        mid = actor.municipality_id if actor.active else None
        if mid is None or not residency.may_verify(actor, mid):
            abort(
                make_response(
                    self.render_template(
                        "hamaynk/error.html",
                        title=_("Residents"),
                        message=_("Only a clerk or an administrator of a municipality verifies its residents."),
                        back_url=url_for("HomeView.index"),
                    ),
                    403,
                )
            )
        return mid

    @staticmethod
    def _token() -> str:
        """The person token a search result's link (``?t=``) or the page's forms (``t``) carry."""
        raw = request.form.get("t", "") if request.method == "POST" else request.args.get("t", "")
        return raw if isinstance(raw, str) else ""

    def _person(self, mid: int, user_id: int) -> residency.CitizenMatch:
        # Who may be looked at is the domain's rule (a resident here, or a search's token).
        try:
            return residency.citizen(
                db.session,
                web.require_actor(),
                mid,
                user_id,
                secret_key=current_app.config["SECRET_KEY"],
                token=self._token(),
            )
        except access.NotFound:
            abort(404)

    @expose("/")
    @has_access
    def index(self):
        mid = self._municipality_id()
        raw = request.args.get("q", "")
        query = raw.strip()[: residency.MAX_QUERY] if isinstance(raw, str) else ""
        found = (
            residency.find_citizens(
                db.session, web.require_actor(), mid, query, secret_key=current_app.config["SECRET_KEY"]
            )
            if query
            else []
        )
        return self.render_template(
            "office/residents.html",
            title=_("Residents"),
            query=query,
            searched=bool(query),
            too_short=bool(query) and len(query) < residency.SEARCH_MIN_CHARS,
            found=found,
            min_chars=residency.SEARCH_MIN_CHARS,
            **self._labels(),
        )

    @expose("/person/<int:user_id>")
    @has_access
    def person(self, user_id: int):
        mid = self._municipality_id()
        return self._render_person(mid, self._person(mid, user_id))

    def _render_person(self, mid: int, person: residency.CitizenMatch, errors: dict[str, str] | None = None, **form):
        choices = residency.settlements(db.session, mid)
        locale = current_locale()
        row = person.residency
        context: dict[str, Any] = {
            "person": person,
            "row": row,
            "status": residency.status_of(row) if row is not None else None,
            "row_settlement": next((s for s in choices if row is not None and s.id == row.settlement_id), None),
            "settlements": [(s.id, residency.settlement_name(s, locale)) for s in choices],
            "errors": errors or {},
            "form": form,
            "valid_days": residency.valid_days(current_app.config),
            # Posted back with the forms: a person found by search has no residency here yet.
            "token": self._token(),
            **self._labels(),
        }
        return self.render_template(
            "office/residents_person.html", title=_("Residency of %(name)s", name=person.name), **context
        ), (400 if errors else 200)

    @staticmethod
    def _labels() -> dict[str, Any]:
        return {
            "document_kinds": [(key, str(label)) for key, label in residency.DOCUMENT_KINDS.items()],
            "status_labels": {
                "valid": _("Verified"),
                "expired": _("Expired"),
                "revoked": _("Revoked"),
            },
            "settlement_name": lambda s: residency.settlement_name(s, current_locale()),
            "is_registry": residency.is_registry_method,
            "local_date": residency.local_date,
            "status_of": residency.status_of,
        }

    @expose("/person/<int:user_id>/verify", methods=["POST"])
    @has_access
    def verify(self, user_id: int):
        mid = self._municipality_id()
        person = self._person(mid, user_id)
        kind = request.form.get("document_kind", "")
        settlement_id = _form_id("settlement_id")
        try:
            row = residency.verify(
                db.session,
                web.require_actor(),
                user_id=person.user_id,
                municipality_id=mid,
                settlement_id=settlement_id,
                document_kind=kind if isinstance(kind, str) else "",
                ip=request.remote_addr,
                config=current_app.config,
            )
            db.session.commit()
        except residency.ResidencyRefused as refused:
            db.session.rollback()
            return self._render_person(
                mid, person, {refused.field or "form": refused.message}, document_kind=kind, settlement_id=settlement_id
            )
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(
            _(
                "The residency of %(name)s is verified until %(date)s.",
                name=person.name,
                date=format_date(residency.local_date(row.expires_at)),
            ),
            "success",
        )
        return redirect(url_for(".person", user_id=person.user_id))

    @expose("/person/<int:user_id>/revoke", methods=["POST"])
    @has_access
    def revoke(self, user_id: int):
        mid = self._municipality_id()
        person = self._person(mid, user_id)
        reason = request.form.get("reason", "")
        if person.residency is None:
            abort(404)
        try:
            residency.revoke(
                db.session, web.require_actor(), person.residency.id, reason=reason, ip=request.remote_addr
            )
            db.session.commit()
        except residency.ResidencyRefused as refused:
            db.session.rollback()
            return self._render_person(mid, person, {refused.field or "form": refused.message}, reason=reason)
        except access.NotFound:
            db.session.rollback()
            abort(404)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(_("The residency of %(name)s is revoked.", name=person.name), "success")
        return redirect(url_for(".person", user_id=person.user_id))
