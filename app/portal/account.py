"""Citizen accounts: registration with e-mail verification, sign-in and sign-out, password
reset, profile, and signing in through outside identity providers.

Thin: app.domain.accounts decides; these views read the form, call it, commit and render.
Sign-in, registration, the reset request and the new verification link are rate-limited
per client address and, separately, per e-mail address typed in (HAMAYNK_LIMIT_* settings);
over the limit the page says so in the user's language and nothing is done.

Sign-ins are server-side sessions (app.domain.sessions, wired in app.security): the cookie
carries only a session id. Signing out (POST with the CSRF token only) ends that session; a
password reset ends every session of the account (a listener on the password column does it, so
nothing here needs to); signing in again first ends this browser's previous sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import refresh
from flask_limiter.util import get_remote_address
from flask_login import login_user, logout_user
from sqlalchemy import select

from app import limits, signin
from app.domain import access, accounts, citizen_notices
from app.domain.errors import HookFailed, NotAllowed
from app.domain.identity import IdentityError
from app.domain.participation import residency
from app.extensions import db, limiter
from app.i18n import current_locale, format_date, safe_next, tr
from app.models import Municipality, User
from app.models.portal import CitizenProfile
from app.plugins import runtime as plugin_runtime
from app.portal import identity_flow
from app.portal.common import link, require_citizen
from app.portal.site import error_page
from app.web import current_actor

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.record_once
def _collect_providers(state: Any) -> None:
    # At start-up, so a broken identity provider plug-in stops a strict start, not a request.
    identity_flow.collect(state.app)


for _code in (400, 403, 404, 405, 429):
    bp.register_error_handler(_code, error_page)


# -- rate limits ----------------------------------------------------------------------------------


def _setting(name: str) -> Callable[[], str]:
    def value() -> str:
        return str(current_app.config.get(name) or "10 per minute")

    return value


def _limited(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Limit a view's POSTs by ``setting`` per client address and per e-mail address sent
    (the one helper of every limited path, app.limits)."""
    return limits.per_account(setting, "email")


# -- helpers --------------------------------------------------------------------------------------


def _form(name: str) -> str:
    value = request.form.get(name, "")
    return value if isinstance(value, str) else ""


def _private(response: ResponseReturnValue) -> Response:
    """A page whose address holds a secret (a link from an e-mail): never sent on as a referrer
    nor kept in a shared cache."""
    result = current_app.make_response(response)
    result.headers["Referrer-Policy"] = "no-referrer"
    result.headers["Cache-Control"] = "no-store"
    return result


def _verify_path(token: str) -> str:
    return url_for("account.verify", token=token)


def _reset_path(token: str) -> str:
    return url_for("account.reset", token=token)


def _next_target(raw: str | None) -> str | None:
    target = safe_next(raw)
    if target is None or target.startswith(("/account/logout", "/account/identity/")):
        return None
    return target


def _after_sign_in(next_url: str | None) -> str:
    return _next_target(next_url) or link("mine.index") or url_for("site.home")


def _sign_in(user: User, language: str | None) -> None:
    """Start a fresh session for ``user`` (a new cookie: nothing from before carries over but
    the language, which becomes the profile's)."""
    keep = session.get("locale")
    logout_user()  # ends this browser's previous sign-in, if any (app.domain.sessions)
    session.clear()
    login_user(user)
    chosen = language if language in accounts.LANGUAGES else keep
    if chosen:
        session["locale"] = chosen
    refresh()


def _channels() -> list[tuple[str, str]]:
    catalogue = citizen_notices.channel_catalogue(db.session)
    return [(key, tr(channel.label)) for key, channel in catalogue.items()]


def _languages() -> list[tuple[str, str]]:
    return [(code, str(spec["name"])) for code, spec in current_app.config["LANGUAGES"].items()]


# -- registration and verification ---------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"], endpoint="register")
@_limited("HAMAYNK_LIMIT_REGISTER")
def register() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    values = {"name": "", "email": "", "language": current_locale()}
    if request.method == "POST":
        values = {"name": _form("name"), "email": _form("email"), "language": _form("language") or current_locale()}
        data, errors = accounts.read_registration(
            request.form, config=current_app.config, default_language=current_locale()
        )
        if data is not None:
            accounts.register(
                db.session,
                data,
                config=current_app.config,
                verify_path=_verify_path,
                reset_request_path=url_for("account.reset_request"),
            )
            db.session.commit()
            return redirect(url_for("account.sent", what="register"))
    return render_template(
        "portal/account/register.html",
        title=_("Create an account"),
        errors=errors,
        values=values,
        languages=_languages(),
        min_length=current_app.config.get("HAMAYNK_PASSWORD_MIN_LENGTH") or 10,
    ), (200 if not errors else 400)


@bp.route("/sent/<what>", endpoint="sent")
def sent(what: str) -> ResponseReturnValue:
    """The same answer whether or not the address has an account."""
    if what not in ("register", "reset", "verify"):
        abort(404)
    return render_template("portal/account/sent.html", title=_("Check your e-mail"), what=what)


@bp.route("/verify/<token>", endpoint="verify")
@limits.limited("HAMAYNK_LIMIT_LINKS", failures_only=True, methods=("GET",))
def verify(token: str) -> ResponseReturnValue:
    status, _user_id = accounts.verify_email(db.session, token, config=current_app.config)
    db.session.commit()
    code = 200 if status in (accounts.DONE, accounts.USED) else 400
    return _private(
        (
            render_template("portal/account/verified.html", title=_("Confirm your e-mail address"), status=status),
            code,
        )
    )


@bp.route("/verify/resend", methods=["GET", "POST"], endpoint="verify_resend")
@_limited("HAMAYNK_LIMIT_VERIFY_RESEND")
def verify_resend() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    email = request.args.get("email", "") if request.method == "GET" else _form("email")
    if request.method == "POST":
        address, problem = accounts.clean_email(email.strip())
        if problem:
            errors["email"] = problem
        else:
            accounts.resend_verification(db.session, address, config=current_app.config, verify_path=_verify_path)
            db.session.commit()
            return redirect(url_for("account.sent", what="verify"))
    return render_template(
        "portal/account/resend.html",
        title=_("Send the confirmation link again"),
        errors=errors,
        email=email if isinstance(email, str) else "",
    ), (200 if not errors else 400)


# -- signing in and out ---------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
@limits.sign_in("email")
def login() -> ResponseReturnValue:
    next_url = _next_target(request.values.get("next"))
    errors: dict[str, str] = {}
    unverified_email = None
    email = ""
    if request.method == "POST":
        email = _form("email")
        result = accounts.authenticate(db.session, email, _form("password"), config=current_app.config)
        db.session.commit()
        if result.status == accounts.SIGNED_IN and result.user is not None:
            # Staff with a second factor (or required to have one) go on to its page (app.signin).
            second_step = signin.after_password(result.user, None if result.citizen else "/")
            if second_step is not None:
                return second_step
            _sign_in(result.user, result.language)
            signin.audit_login(result.user, channel="portal", second_factor_used=False)
            db.session.commit()
            if not result.citizen:
                return redirect(url_for("HomeView.index"))  # staff: the office's home
            return redirect(_after_sign_in(next_url))
        # The account when the address is one, else a keyed digest of what was typed (app.signin).
        reason = "unverified" if result.status == accounts.UNVERIFIED else "credentials"
        signin.audit_failed(channel="portal", reason=reason, username=email)
        db.session.commit()
        if result.status == accounts.UNVERIFIED:
            unverified_email = accounts.normalize_email(email)
        else:
            errors["email"] = _("The e-mail address or the password is not right.")
    else:
        actor = current_actor()
        if actor is not None and actor.is_citizen:
            return redirect(_after_sign_in(next_url))
    return render_template(
        "portal/account/login.html",
        title=_("Sign in"),
        errors=errors,
        email=email,
        next_url=next_url,
        unverified_email=unverified_email,
        providers=identity_flow.redirect_providers(),
    ), (200 if not errors and not unverified_email else 400)


@bp.route("/logout", methods=["POST"], endpoint="logout")
def logout() -> ResponseReturnValue:
    keep = session.get("locale")
    logout_user()
    session.clear()
    if keep:
        session["locale"] = keep
    flash(_("You are signed out."), "success")
    return redirect(url_for("site.home"))


# -- password reset -------------------------------------------------------------------------------


@bp.route("/reset", methods=["GET", "POST"], endpoint="reset_request")
@_limited("HAMAYNK_LIMIT_RESET")
def reset_request() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    email = ""
    if request.method == "POST":
        email = _form("email")
        address, problem = accounts.clean_email(email.strip())
        if problem:
            errors["email"] = problem
        else:
            accounts.request_reset(db.session, address, config=current_app.config, reset_path=_reset_path)
            db.session.commit()
            return redirect(url_for("account.sent", what="reset"))
    return render_template(
        "portal/account/reset_request.html", title=_("Forgot your password?"), errors=errors, email=email
    ), (200 if not errors else 400)


@bp.route("/reset/<token>", methods=["GET", "POST"], endpoint="reset")
@limits.limited("HAMAYNK_LIMIT_LINKS", failures_only=True, methods=("GET",))
@limiter.limit(_setting("HAMAYNK_LIMIT_RESET"), key_func=get_remote_address, methods=["POST"])
def reset(token: str) -> ResponseReturnValue:
    errors: dict[str, str] = {}
    if request.method == "POST":
        status, errors = accounts.reset_password(db.session, token, request.form, config=current_app.config)
        if status == accounts.DONE and not errors:
            db.session.commit()
            flash(_("Your password was changed. Sign in with the new password."), "success")
            return redirect(url_for("account.login"))
        db.session.rollback()
    else:
        status, _user = accounts.reset_user(db.session, token, config=current_app.config)
    page = render_template(
        "portal/account/reset.html",
        title=_("Choose a new password"),
        status=status,
        errors=errors,
        token=token,
        min_length=current_app.config.get("HAMAYNK_PASSWORD_MIN_LENGTH") or 10,
    )
    return _private((page, 200 if status == accounts.DONE and not errors else 400))


# -- the profile ----------------------------------------------------------------------------------


@bp.route("/profile", methods=["GET", "POST"], endpoint="profile")
def profile() -> ResponseReturnValue:
    actor = require_citizen()
    try:
        row = access.own_profile(db.session, actor)
        identities = access.own_identities(db.session, actor)
    except access.NotFound:
        abort(404)
    user = db.session.get(User, actor.user_id)
    if user is None:
        abort(404)
    if row is None:  # an account made before profiles existed: one is made on the first save
        row = CitizenProfile(user_id=user.id, language=current_locale(), channels=["email", "inapp"])
    channels = _channels()
    errors: dict[str, str] = {}
    name = " ".join(p for p in (user.first_name, user.last_name) if p and p != "-")
    values: dict[str, Any] = {
        "name": name,
        "psn": row.psn or "",
        "phone": row.phone or "",
        "address": row.address or "",
        "language": row.language,
        "channels": list(row.channels or []),
    }
    if request.method == "POST":
        values = {
            "name": _form("name"),
            "psn": _form("psn") if row.identity_verified_at is None else row.psn or "",
            "phone": _form("phone"),
            "address": _form("address"),
            "language": _form("language"),
            "channels": request.form.getlist("channels"),
        }
        raw = dict(request.form)
        if row.identity_verified_at is not None:
            raw["psn"] = row.psn or ""
        data, errors = accounts.read_profile(raw, [key for key, _label in channels], request.form.getlist("channels"))
        if data is not None:
            if row.id is None:
                db.session.add(row)
            accounts.save_profile(db.session, user, row, data)
            db.session.commit()
            session["locale"] = data.language
            refresh()
            flash(_("Your profile was saved."), "success")
            return redirect(url_for("account.profile"))
    known = {p.key: p for p in identity_flow.redirect_providers()}
    return render_template(
        "portal/account/profile.html",
        title=_("Your profile"),
        errors=errors,
        values=values,
        profile=row,
        email=user.email,
        channels=channels,
        languages=_languages(),
        identities=[(i, known.get(i.provider)) for i in identities],
        connectable=[p for key, p in known.items() if key not in {i.provider for i in identities}],
        verified_by=known.get(row.identity_provider or ""),
        **_residency_context(actor.user_id, row),
    ), (200 if not errors else 400)


# -- verified residency -------------------------------------------------------------------------


def _residency_context(user_id: int, row: CitizenProfile, **extra: Any) -> dict[str, Any]:
    """The citizen's residencies, and the registry button where a plug-in answers and their
    identity (public service number) is confirmed."""
    registry = residency.registry_available(plugin_runtime.host())
    municipalities: list[Municipality] = []
    if registry:
        stmt = select(Municipality).where(Municipality.active.is_(True)).order_by(Municipality.code)
        municipalities = list(db.session.execute(stmt).scalars())
    return {
        "residencies": residency.citizen_overview(db.session, user_id),
        "registry": registry,
        "registry_ready": bool(row.identity_verified_at and row.psn),
        "municipalities": municipalities,
        "residency_date": residency.local_date,
        "settlement_name": lambda s: residency.settlement_name(s, current_locale()),
        "is_registry": residency.is_registry_method,
        "document_kinds": {key: str(label) for key, label in residency.DOCUMENT_KINDS.items()},
        **extra,
    }


@bp.route("/residency", methods=["POST"], endpoint="residency")
def residency_check() -> ResponseReturnValue:
    """Ask the registry plug-in whether the citizen lives in the municipality chosen."""
    actor = require_citizen()
    raw = _form("municipality_id")
    municipality_id = int(raw) if raw.isdecimal() and len(raw) <= len(str(access.MAX_PK)) else 0
    try:
        row = residency.verify_from_registry(
            db.session,
            plugin_runtime.host(),
            actor,
            municipality_id=municipality_id,
            config=current_app.config,
            ip=request.remote_addr,
        )
        db.session.commit()
    except residency.ResidencyRefused as refused:
        db.session.rollback()
        flash(str(refused), "error")
        return redirect(url_for("account.profile") + "#residency"), 303
    except HookFailed as exc:
        db.session.rollback()
        current_app.logger.error("residency registry failed: %s", exc)
        flash(_("The registry cannot be reached now, and nothing was changed. Try again later."), "error")
        return redirect(url_for("account.profile") + "#residency"), 303
    except NotAllowed:
        db.session.rollback()
        abort(403)
    flash(
        _(
            "Your residency is verified until %(date)s.",
            date=format_date(residency.local_date(row.expires_at)),
        ),
        "success",
    )
    return redirect(url_for("account.profile") + "#residency"), 303


# -- outside identity providers ---------------------------------------------------------------------


@bp.route("/identity/<provider>", endpoint="identity_start")
@limiter.limit(_setting("HAMAYNK_LIMIT_IDENTITY"), key_func=get_remote_address)
def identity_start(provider: str) -> ResponseReturnValue:
    found = identity_flow.find(provider)
    if found is None:
        abort(404)
    actor = current_actor()
    if actor is not None and not actor.is_citizen:
        abort(403)
    try:
        target = identity_flow.start(found, next_url=_next_target(request.args.get("next")), link=actor is not None)
    except IdentityError as exc:
        current_app.logger.warning("identity sign-in could not start: %s", exc)
        return _identity_failed(_("The sign-in service cannot be reached now. Try again later."))
    return redirect(target)


def _identity_failed(message: str) -> ResponseReturnValue:
    return render_template("portal/account/identity_failed.html", title=_("Sign-in did not work"), message=message), 400


@bp.route("/identity/<provider>/callback", endpoint="identity_callback")
@limiter.limit(_setting("HAMAYNK_LIMIT_IDENTITY"), key_func=get_remote_address)
def identity_callback(provider: str) -> ResponseReturnValue:
    found = identity_flow.find(provider)
    if found is None:
        abort(404)
    params = {k: v for k, v in request.args.items() if isinstance(v, str) and len(v) <= 4096}
    try:
        person, kept = identity_flow.finish(found, params)
    except IdentityError as exc:
        current_app.logger.warning("identity sign-in refused: %s", exc)
        return _private(
            _identity_failed(_("The sign-in could not be completed, and nothing was changed. Start again."))
        )
    actor = current_actor()
    signed_in = actor.user_id if actor is not None and actor.is_citizen and kept["link"] else None
    outcome = accounts.sign_in_with_identity(
        db.session,
        provider=found,
        identity=person,
        signed_in_user_id=signed_in,
        default_language=current_locale(),
        config=current_app.config,
    )
    messages = {
        accounts.LINKED_ELSEWHERE: _("This identity is already connected to another account."),
        accounts.EMAIL_TAKEN: _(
            "An account with this e-mail address exists already. Sign in with your password, then connect "
            "this way of signing in from your profile."
        ),
        accounts.NO_EMAIL: _(
            "The sign-in service did not share an e-mail address. Create an account first, then connect "
            "this way of signing in from your profile."
        ),
        accounts.REFUSED: _("This account cannot sign in here."),
    }
    if outcome.status in messages or outcome.user_id is None:
        db.session.rollback()
        return _private(_identity_failed(messages.get(outcome.status, messages[accounts.REFUSED])))
    db.session.commit()
    if outcome.status == accounts.LINKED:
        flash(_("%(provider)s is now connected to your account.", provider=tr(found.label)), "success")
        return _private(redirect(url_for("account.profile")))
    user = db.session.get(User, outcome.user_id)
    if user is None:
        abort(404)
    _sign_in(user, outcome.language)
    return _private(redirect(_after_sign_in(kept.get("next"))))
