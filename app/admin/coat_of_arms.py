"""Administration: what a municipality's issued documents carry of it, its coat of arms
(upload, replace, remove; app.domain.municipal_identity), and whether a signing certificate
is configured for it and until when it is valid (app.domain.signing, read only: certificates
are files on the server, see docs/operations.md).

Which municipality a page is about comes from ``?municipality=<id>``; by default the actor's
own. A system administrator without one picks from the list. Another municipality's id is a
plain 404, as everywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.admin.common import chosen_municipality, municipality_choices
from app.domain import municipal_identity as identity
from app.domain import signing
from app.domain.access import Actor
from app.domain.errors import NotAllowed
from app.domain.storage import StorageError, get_storage
from app.extensions import db
from app.models import Municipality

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CertificateStatus:
    """What the page says about the signing certificate: ``state`` is ``valid``,
    ``expired``, ``not_yet_valid``, ``none`` (no file: documents are issued unsigned) or
    ``broken`` (a file that cannot be used: a wrong password, not a PKCS#12 file); the
    certificate's own fields as far as they could be read."""

    state: str
    info: signing.CertificateInfo | None = None

    @property
    def problem(self) -> str:
        # Written by app.domain.signing for the log and the administrator, in English.
        return (self.info.problem or "") if self.info is not None else ""


def certificate_status(config: Any, municipality_code: str) -> CertificateStatus:
    """:func:`app.domain.signing.certificate_info`, as the page shows it."""
    try:
        info = signing.certificate_info(config, municipality_code)
    except Exception:
        # A page about the certificate must not fail because of it: say it cannot be used.
        log.warning("cannot read the signing certificate of %s", municipality_code, exc_info=True)
        return CertificateStatus("broken")
    if info is None:
        return CertificateStatus("none")
    if info.problem is None:
        return CertificateStatus("valid", info)
    now = dt.datetime.now(dt.UTC)
    if info.not_after is not None and info.not_after < now:
        return CertificateStatus("expired", info)
    if info.not_before is not None and info.not_before > now:
        return CertificateStatus("not_yet_valid", info)
    return CertificateStatus("broken", info)


class CoatOfArmsView(BaseView):
    """The coat of arms and signing certificate of a municipality: its municipal
    administrators (and system administrators) change the coat of arms, auditors read."""

    route_base = "/admin/coat-of-arms"
    class_permission_name = "MunicipalIdentityAdmin"
    method_permission_name = {"page": "list", "image": "list", "upload": "edit", "remove": "edit"}
    default_view = "page"

    # -- which municipality -------------------------------------------------------------------

    def _municipality(self, actor: Actor) -> Municipality | None:
        """The municipality the request is about; ``None`` when a system administrator has not
        chosen one yet."""
        municipality = chosen_municipality(actor, request.args.get("municipality", ""))
        if municipality is not None and not identity.may_see(actor, municipality.id):
            abort(403)
        return municipality

    def _required(self, actor: Actor) -> Municipality:
        municipality = self._municipality(actor)
        if municipality is None:
            abort(404)
        return municipality

    def _choices(self, actor: Actor) -> list[Municipality]:
        return municipality_choices(actor)

    def _render(self, actor: Actor, municipality: Municipality | None, *, error: str = "", status: int = 200):
        storage = get_storage(current_app)
        context: dict[str, Any] = {"choices": self._choices(actor), "municipality": municipality, "error": error}
        if municipality is not None:
            coat = identity.describe(db.session, municipality, storage)
            context.update(
                coat=coat,
                # Changes with the image, so a browser never shows the one replaced.
                version=hashlib.sha256((coat.key or "none").encode()).hexdigest()[:12],
                certificate=certificate_status(current_app.config, municipality.code),
                can_edit=identity.may_change(actor, municipality.id)
                and self.appbuilder.sm.has_access("can_edit", self.class_permission_name),
                max_mb=identity.MAX_BYTES // (1024 * 1024),
                max_side=identity.MAX_SIDE,
                min_side=identity.MIN_SIDE,
            )
        return self.render_template(
            "hamaynk/coat_of_arms.html", title=_("Coat of arms and signing certificate"), **context
        ), status

    def _back(self, municipality: Municipality):
        return redirect(url_for(".page", municipality=municipality.id))

    # -- pages --------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def page(self):
        actor = web.require_actor()
        return self._render(actor, self._municipality(actor))

    @expose("/image")
    @has_access
    def image(self):
        """The coat of arms as stored, or the placeholder emblem documents carry without one."""
        actor = web.require_actor()
        municipality = self._required(actor)
        data = identity.coat_of_arms_bytes(db.session, municipality, get_storage(current_app))
        mimetype = "image/png"
        if data is None:
            data = identity.placeholder_emblem()
        elif not data.startswith(b"\x89PNG"):
            mimetype = "image/jpeg"
        return Response(
            data,
            mimetype=mimetype,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-cache",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Content-Disposition": "inline",
            },
        )

    @expose("/upload", methods=["POST"])
    @has_access
    def upload(self):
        actor = web.require_actor()
        municipality = self._required(actor)
        if not identity.may_change(actor, municipality.id):
            abort(403)
        upload = request.files.get("image")
        if upload is None or not upload.filename:
            return self._render(actor, municipality, error=_("Choose an image file to upload."), status=400)
        try:
            checked = identity.set_coat_of_arms(
                db.session, get_storage(current_app), municipality, upload, actor, ip=request.remote_addr
            )
            db.session.commit()
        except identity.CoatOfArmsRefused as exc:
            db.session.rollback()
            return self._render(actor, municipality, error=exc.message, status=400)
        except StorageError as exc:
            db.session.rollback()
            return self._render(actor, municipality, error=str(exc), status=503)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(
            _(
                "Saved. Documents issued from now on carry this coat of arms (%(type)s, %(width)d × %(height)d pixels).",
                type=checked.format_label,
                width=checked.width,
                height=checked.height,
            ),
            "success",
        )
        return self._back(municipality)

    @expose("/remove", methods=["POST"])
    @has_access
    def remove(self):
        actor = web.require_actor()
        municipality = self._required(actor)
        try:
            removed = identity.remove_coat_of_arms(
                db.session, get_storage(current_app), municipality, actor, ip=request.remote_addr
            )
            db.session.commit()
        except NotAllowed:
            db.session.rollback()
            abort(403)
        if removed:
            flash(_("Removed. Documents issued from now on carry the neutral emblem."), "success")
        else:
            flash(_("There was no coat of arms to remove."), "info")
        return self._back(municipality)
