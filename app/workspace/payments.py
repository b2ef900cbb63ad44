"""The payment panel of the case page, and what staff do with a fee: a clerk records a payment
made at the office with its receipt number, a head or municipal administrator waives the
fee with a reason, and anyone who may open the case prints a payment's receipt.

Thin: the rules are :mod:`app.domain.payments`. Recording and waiving use the workspace's
``can_act`` (auditors only read); the receipt its ``can_show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from app import web
from app.domain import access, payments
from app.domain.access import MAX_PK, Actor
from app.domain.declarations import pick
from app.extensions import db
from app.i18n import current_locale
from app.models import Application, Municipality, Payment, User
from app.plugins import runtime as plugin_runtime
from app.workspace import permissions as workspace_permissions


def _labels() -> dict[str, str]:
    return {
        payments.DUE: _("Payment due"),
        payments.PAID: _("Paid"),
        payments.WAIVED: _("Waived"),
        payments.STARTED: _("Started, not confirmed"),
        payments.FAILED: _("Failed"),
        payments.CANCELLED: _("Cancelled"),
    }


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    provider: str
    status: str
    recorded_by: str | None
    receipt_url: str | None


@dataclass(frozen=True)
class Panel:
    """What the case page shows about the fee."""

    status: str | None
    status_label: str
    rows: list[PaymentRow]
    may_record: bool
    may_waive: bool
    waiting: bool
    items: list[tuple[str, int]]


def _provider_label(key: str, locale: str) -> str:
    # The install's providers, collected when the portal's pay blueprint was registered.
    known = current_app.extensions.get(payments.PROVIDERS_EXTENSION)
    found = known.get(key) if known is not None else None
    return pick(found.label, locale) if found is not None else key


def panel(actor: Actor, application: Application) -> Panel | None:
    """The payment panel for the staff of the application's municipality; ``None`` for
    anyone else, and for a free application without payments."""
    if not access.same_municipality(actor, application):
        return None
    rows = payments.payments_of_application(db.session, application)
    if application.fee <= 0 and not rows:
        return None
    locale = current_locale()
    labels = _labels()
    names: dict[int, str] = {}
    recorders = sorted({p.recorded_by_id for p in rows if p.recorded_by_id is not None})
    if recorders:
        for user in db.session.execute(select(User).where(User.id.in_(recorders))).scalars():
            names[user.id] = f"{user.first_name} {user.last_name}".strip()
    registered = plugin_runtime.registry().get(application.service_key, application.service_version)
    service = registered.service if registered is not None else None
    return Panel(
        status=application.payment_status,
        status_label=labels.get(application.payment_status or "", _("Nothing to pay")),
        rows=[
            PaymentRow(
                payment=p,
                provider=_provider_label(p.provider, locale),
                status=labels.get(p.status, p.status),
                recorded_by=names.get(p.recorded_by_id) if p.recorded_by_id is not None else None,
                receipt_url=url_for("PaymentsView.receipt", application_id=application.id, payment_id=p.id)
                if p.status in payments.SETTLED
                else None,
            )
            for p in rows
        ],
        may_record=application.payment_status == payments.DUE and payments.may_record(actor, application),
        may_waive=application.payment_status == payments.DUE and payments.may_waive(actor, application),
        waiting=service is not None and payments.waiting_for_payment(application, service),
        items=[(item.text(locale), item.amount) for item in payments.application_items(application, service)],
    )


class PaymentsView(BaseView):
    route_base = "/workspace/applications"
    class_permission_name = workspace_permissions.NAME
    base_permissions = workspace_permissions.PERMISSIONS
    method_permission_name = {"record": "act", "waive": "act", "receipt": "show"}

    def _back(self, application_id: int) -> str:
        return url_for("WorkspaceView.case", application_id=application_id) + "#case-payment"

    def _refused(self, application: Application, actor: Actor, exc: payments.PaymentRefused) -> Any:
        db.session.rollback()
        from app.workspace.views import WorkspaceView

        view = next(v for v in self.appbuilder.baseviews if isinstance(v, WorkspaceView))
        status = 403 if exc.field is None and not payments.may_record(actor, application) else 400
        return view._render_case(web.application_or_404(application.id), actor, status, str(exc))

    @expose("/<int:application_id>/payment/record", methods=["POST"])
    @has_access
    def record(self, application_id: int) -> Any:
        actor = web.require_actor()
        application = web.application_or_404(application_id)
        try:
            payments.record_at_office(
                db.session,
                application,
                actor=actor,
                receipt_number=request.form.get("receipt_number"),
                service=_service(application),
                ip=request.remote_addr,
            )
            db.session.commit()
        except payments.PaymentRefused as exc:
            return self._refused(application, actor, exc)
        flash(_("The payment is recorded."), "success")
        return redirect(self._back(application_id), 303)

    @expose("/<int:application_id>/payment/waive", methods=["POST"])
    @has_access
    def waive(self, application_id: int) -> Any:
        actor = web.require_actor()
        application = web.application_or_404(application_id)
        try:
            payments.waive(
                db.session, application, actor=actor, reason=request.form.get("reason"), ip=request.remote_addr
            )
            db.session.commit()
        except payments.PaymentRefused as exc:
            if exc.field is None and not payments.may_waive(actor, application):
                db.session.rollback()
                from app.workspace.views import WorkspaceView

                view = next(v for v in self.appbuilder.baseviews if isinstance(v, WorkspaceView))
                return view._render_case(web.application_or_404(application.id), actor, 403, str(exc))
            return self._refused(application, actor, exc)
        flash(_("The fee is waived."), "success")
        return redirect(self._back(application_id), 303)

    @expose("/<int:application_id>/payments/<int:payment_id>/receipt")
    @has_access
    def receipt(self, application_id: int, payment_id: int) -> Any:
        actor = web.require_actor()
        application = web.application_or_404(application_id)
        if not access.same_municipality(actor, application) or not 0 < payment_id <= MAX_PK:
            return make_response(_("Not found"), 404)
        try:
            payment = payments.show_receipt(db.session, actor, application, payment_id, ip=request.remote_addr)
        except access.NotFound:
            return make_response(_("Not found"), 404)
        locale = current_locale()
        municipality = db.session.get(Municipality, application.municipality_id)
        recorder = db.session.get(User, payment.recorded_by_id) if payment.recorded_by_id else None
        service = _service(application)
        response = make_response(
            self.render_template(
                "workspace/payment_receipt.html",
                title=_("Payment receipt %(number)s", number=payment.receipt_number or payment.reference),
                application=application,
                payment=payment,
                municipality_name=(getattr(municipality, f"name_{locale}", None) or municipality.name_hy)
                if municipality
                else "",
                service_title=pick(service.title, locale) if service else application.service_key,
                provider=_provider_label(payment.provider, locale),
                recorder=f"{recorder.first_name} {recorder.last_name}".strip() if recorder else None,
                items=[(pick(item.get("label") or {}, locale), item.get("amount")) for item in payment.items or []],
                back_url=self._back(application_id),
            )
        )
        response.headers["Cache-Control"] = "no-store"
        return response


def _service(application: Application) -> Any:
    registered = plugin_runtime.registry().get(application.service_key, application.service_version)
    return registered.service if registered is not None else None


__all__ = ["Panel", "PaymentsView", "panel"]
