"""Fees and payments: starting a payment with a provider, the payer's return, the gateways'
server-to-server callbacks, and the pages of the built-in test gateway.

* ``pay.start`` (POST ``/pay/<provider>/start``, ``draft_id`` or ``application_id``): the
  signed-in citizen pays their draft's fee (the fee stage of the online application) or
  what is due on their application; they are sent to the provider's gateway.
* ``pay.returned`` (``/pay/<provider>/return/<reference>``): where the gateway sends the
  payer back. It shows what the callback settled — which may not have arrived yet.
* ``pay.callback`` (POST ``/pay/<provider>/callback``, no CSRF token: the gateway's own
  signature is checked instead): the gateway reports the outcome
  (:func:`app.domain.payments.settle`).
* ``pay.test_gateway`` (``/pay/test/gateway/<reference>``): the pretend bank page of the
  ``test`` provider, only where test payments are enabled (``HAMAYNK_TEST_PAYMENTS``).

The providers of the install (built-in and ``register_payment_providers``) are collected
once when the blueprint is registered; templates reach them as ``pay_providers()``.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.domain import access, payments
from app.domain.declarations import Service
from app.domain.errors import WorkflowError
from app.extensions import csrf, db
from app.models import Municipality, Payment
from app.plugins import runtime
from app.portal.common import citizen, link, require_citizen

log = logging.getLogger(__name__)

bp = Blueprint("pay", __name__)

EXTENSION = payments.PROVIDERS_EXTENSION
GATEWAY = "hamaynk.test_gateway"

PERIODS = {
    "day": _l("Charged per day."),
    "month": _l("Charged per month."),
    "quarter": _l("Charged per quarter."),
    "year": _l("Charged per year."),
    "event": _l("Charged per event."),
}


def _setup(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    builtin = [payments.office_provider()]
    if app.config.get("HAMAYNK_TEST_PAYMENTS"):
        configured = app.config.get("HAMAYNK_TEST_GATEWAY_KEY") or ""
        secret = configured.encode("utf-8") if configured else payments.test_gateway_key(app.config["SECRET_KEY"])
        gateway = payments.TestGateway(
            secret,
            gateway_url=lambda reference: url_for("pay.test_gateway", reference=reference),
            window=int(app.config.get("HAMAYNK_TEST_GATEWAY_WINDOW") or 300),
        )
        app.extensions[GATEWAY] = gateway
        builtin.append(gateway.provider())
    app.extensions[EXTENSION] = payments.collect_providers(runtime.host(app), app.config, builtin=builtin)


bp.record_once(_setup)


def providers(app: Flask | None = None) -> payments.Providers:
    found: payments.Providers = (app or current_app).extensions[EXTENSION]
    return found


def the_test_gateway(app: Flask | None = None) -> payments.TestGateway | None:
    """The test gateway of this app, or ``None`` where test payments are off."""
    gateway: payments.TestGateway | None = (app or current_app).extensions.get(GATEWAY)
    return gateway


@bp.app_context_processor
def _context() -> dict[str, Any]:
    return {
        "pay_providers": lambda: providers().listed(),
        "pay_period_text": lambda period: str(PERIODS.get(period, "")),
    }


def _provider(key: str) -> payments.PaymentProvider:
    found = providers().get(key)
    if found is None:
        abort(404)
    return found


def _locale() -> str:
    return str(get_locale() or "hy")


def _service(key: str, version: int) -> Service | None:
    registered = runtime.registry().get(key, version)
    return registered.service if registered is not None else None


def _form_id(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def _fee_stage(draft_id: int) -> str:
    return link("apply.stage", draft_id=draft_id, stage="fee") or link("apply.drafts") or "/"


def _application_page(application_id: int) -> str:
    return link("mine.show", application_id=application_id) or link("mine.index") or "/"


@bp.post("/pay/<provider>/start")
def start(provider: str) -> Response:
    actor = require_citizen()
    chosen = _provider(provider)
    draft_id, application_id = _form_id("draft_id"), _form_id("application_id")
    if (draft_id is None) == (application_id is None):
        abort(400)
    session = db.session
    back: str
    try:
        if draft_id is not None:
            try:
                draft = access.get_draft(session, actor, draft_id)
            except access.NotFound:
                abort(404)
            back = _fee_stage(draft.id)
            service = _service(draft.service_key, draft.service_version)
            if service is None:
                abort(404)
            fee = payments.quote(session, runtime.registry(), municipality_id=draft.municipality_id, service=service)
            payment = payments.start_for_draft(
                session,
                actor=actor,
                draft=draft,
                provider=chosen,
                fee=fee,
                description=_describe(service),
                language=_locale(),
            )
        else:
            assert application_id is not None
            try:
                application = access.get_application(session, actor, application_id)
            except access.NotFound:
                abort(404)
            back = _application_page(application.id)
            service = _service(application.service_key, application.service_version)
            payment = payments.start_for_application(
                session,
                actor=actor,
                application=application,
                provider=chosen,
                service=service,
                description=_describe(service, application.tracking_number),
                language=_locale(),
            )
        target = payments.redirect_for(
            payment,
            chosen,
            return_url=url_for("pay.returned", provider=chosen.key, reference=payment.reference, _external=True),
            callback_url=url_for("pay.callback", provider=chosen.key, _external=True),
        )
    except WorkflowError as exc:
        # Refusals come before any change; a start the provider failed is kept as failed.
        session.commit()
        flash(str(exc), "danger")
        return redirect(back)
    session.commit()
    return redirect(target, code=303)


def _describe(service: Service | None, tracking_number: str | None = None) -> str:
    title = "" if service is None else (service.title.get(_locale()) or service.title.get("hy") or service.key)
    return f"{title} {tracking_number}".strip() if tracking_number else title


@bp.post("/pay/<provider>/callback")
@csrf.exempt
def callback(provider: str) -> tuple[Response, int]:
    chosen = providers().get(provider)
    if chosen is None or not chosen.online or chosen.verify_callback is None:
        return jsonify(error="unknown payment provider"), 404
    session = db.session
    try:
        result = payments._call_with(
            chosen.verify_callback,
            {"form": request.form.to_dict(), "headers": dict(request.headers), "body": request.get_data()},
        )
        if not isinstance(result, payments.CallbackResult):
            raise payments.CallbackRefused("the provider did not verify the callback", status=500)
        settled = payments.settle(session, chosen, result)
    except payments.CallbackRefused as exc:
        log.warning("payment callback of %r refused: %s", provider, exc)
        session.commit()  # the audit event of the refusal, if one was written
        return jsonify(error=str(exc)), exc.status
    except Exception:
        session.rollback()
        log.exception("payment callback of %r failed", provider)
        return jsonify(error="the callback could not be processed"), 500
    session.commit()
    return jsonify(status=settled.payment.status, reference=settled.payment.reference, changed=settled.changed), 200


def _own_payment(provider: str, reference: str) -> Payment:
    actor = require_citizen()
    payment = payments.find_by_reference(db.session, provider, reference)
    if payment is None or payment.user_id != actor.user_id:
        abort(404)
    return payment


def _draft_exists(payment: Payment) -> bool:
    if payment.draft_id is None or payment.application_id is not None:
        return False
    actor = citizen()
    try:
        access.get_draft(db.session, actor, payment.draft_id)
    except access.NotFound:
        return False
    return True


@bp.get("/pay/<provider>/return/<reference>")
def returned(provider: str, reference: str) -> str:
    _provider(provider)
    payment = _own_payment(provider, reference)
    if payment.application_id is not None:
        onward = _application_page(payment.application_id)
    elif _draft_exists(payment):
        assert payment.draft_id is not None
        onward = _fee_stage(payment.draft_id)
    else:
        onward = link("mine.index") or "/"
    return render_template(
        "portal/pay/returned.html",
        title=_("Payment"),
        payment=payment,
        provider=providers()[provider],
        onward=onward,
        check_again=url_for("pay.returned", provider=provider, reference=reference),
    )


# -- the test gateway ---------------------------------------------------------------------------------


def _gateway_payment(reference: str) -> tuple[payments.TestGateway, Payment]:
    gateway = the_test_gateway()
    if gateway is None:
        abort(404)
    # A real gateway's page knows nothing of our sessions; this pretend one shows a payment
    # to the citizen paying it only, so its reference alone reveals nothing to anyone else.
    return gateway, _own_payment(payments.TEST, reference)


def _merchant(payment: Payment) -> str:
    municipality = db.session.execute(
        access.unscoped(
            select(Municipality).where(Municipality.id == payment.municipality_id),
            reason="the merchant's name on the test gateway's page",
        )
    ).scalar_one_or_none()
    if municipality is None:
        return ""
    return str(getattr(municipality, f"name_{_locale()}", None) or municipality.name_hy)


@bp.route("/pay/test/gateway/<reference>", methods=["GET", "POST"], endpoint="test_gateway")
def test_gateway_page(reference: str) -> Any:
    """The test gateway's bank page: who is paid, the amount, "Pay" and "Cancel"."""
    gateway, payment = _gateway_payment(reference)
    if request.method == "POST" and payment.status == payments.STARTED:
        choice = request.form.get("choice")
        if choice not in ("pay", "cancel"):
            abort(400)
        outcome: payments.Outcome = "paid" if choice == "pay" else "cancelled"
        fields, headers = gateway.callback(
            reference=payment.reference, amount=payment.amount, currency=payment.currency, outcome=outcome
        )
        db.session.rollback()  # hold no transaction while the callback writes
        _deliver(fields, headers)
        return redirect(url_for("pay.returned", provider=payments.TEST, reference=reference), code=303)
    return render_template(
        "portal/pay/gateway.html",
        title=_("Test payment gateway"),
        payment=payment,
        merchant=_merchant(payment),
        provider=providers()[payments.TEST],
        back=url_for("pay.returned", provider=payments.TEST, reference=reference),
    )


def _deliver(fields: dict[str, str], headers: dict[str, str]) -> None:
    """The gateway's server-to-server callback, sent through this app's own WSGI stack (the
    gateway lives in this app), as a separate request with its own session."""
    client = current_app.test_client()
    answer = client.post(url_for("pay.callback", provider=payments.TEST), data=fields, headers=headers)
    if answer.status_code != 200:
        log.warning("test gateway callback answered %s: %s", answer.status_code, answer.get_data(as_text=True))
