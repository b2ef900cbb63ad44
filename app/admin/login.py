"""Staff sign-in (/login/) with brute-force limits and the second factor, and the pages where
staff switch their second factor on and off.

:class:`AuthDBView` replaces Flask-AppBuilder's (``HamaynkSecurityManager.authdbview``) under
the same name, so its endpoints (``AuthDBView.login``) and every link to them stay as they
were. What it adds:

- limits (app.limits.sign_in): failed sign-ins per client address and per account typed in;
  over the limit the sign-in page itself says how long to wait (429, ``Retry-After``) and
  not even the right password signs in;
- the second factor (app.signin, app.domain.second_factor): after the password, the code page
  or, when one is required and not set up, the enrolment page; only a right code signs in;
- an audit event for each sign-in and each failed password or code.

:class:`SecondFactorView` (/second-factor/, in the account menu) shows the person's own second
factor, enrols it (QR code and the secret as text) and switches it off with a code; an
administrator resets a colleague's, and a municipal administrator decides whether the
municipality's administrators must use one.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import BaseView, expose
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as FabAuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _

from app import limits, signin, web
from app.domain import access, roles, second_factor
from app.domain.access import MAX_PK
from app.extensions import current_appbuilder, db
from app.models import User

LOGIN_TEMPLATE = "appbuilder/general/security/login_db.html"
CODE_TEMPLATE = "hamaynk/second_factor_code.html"
ENROL_TEMPLATE = "hamaynk/second_factor_enrol.html"
MANAGE_TEMPLATE = "hamaynk/second_factor.html"
# The audit's name for this way in (app.domain.audit.login).
CHANNEL = "staff"


def _render(template: str, status: int = 200, **context: object) -> ResponseReturnValue:
    appbuilder = current_appbuilder()
    page = render_template(template, appbuilder=appbuilder, base_template=appbuilder.base_template, **context)
    return page, status


def _login_refused(seconds: int) -> ResponseReturnValue:
    """The sign-in page again, saying how long to wait (app.limits adds Retry-After)."""
    return _render(
        LOGIN_TEMPLATE, 429, title=_("Sign In"), form=LoginForm_db(formdata=None), too_many=limits.message(seconds)
    )


def _code_refused(seconds: int) -> ResponseReturnValue:
    signin.clear()
    flash(limits.message(seconds), "danger")
    return redirect(url_for("AuthDBView.login"))


# Both second-factor pages (the code, the enrolment) count only wrong codes, per client
# address and per waiting sign-in, and over the limit send the person back to sign in.
_code_limit = limits.limited(
    "HAMAYNK_LIMIT_SECOND_FACTOR",
    keys=(limits.client_key, signin.pending_key),
    failures_only=True,
    refused=_code_refused,
)


def _waiting_user(mode: str) -> User | None:
    """The user whose sign-in waits for this page's step (``signin.CODE`` or ``ENROL``);
    ``None`` with a message when there is none: the time ran out, or the page was opened out
    of turn (a person waiting for a code must not enrol a new factor, and the reverse)."""
    user = signin.pending_user()
    if user is None or (signin.pending() or {}).get("mode") != mode:
        flash(_("Sign in again: the time for the code ran out."), "warning")
        return None
    return user


def _wrong_code(user: User, reason: str) -> ResponseReturnValue | None:
    """Count a wrong code against the limits, in the audit and in the sign-in's own tries;
    once the tries are used up, the way back to the sign-in page (else ``None``)."""
    limits.mark_failed()
    signin.audit_failed(channel=CHANNEL, user_id=user.id, reason=reason)
    db.session.commit()
    if signin.count_wrong():
        return None
    flash(_("Too many wrong codes. Sign in again."), "danger")
    return redirect(url_for("AuthDBView.login"))


def _qr(uri: str) -> str:
    """The otpauth:// URI as an inline SVG (a data: URI: no request leaves the page)."""
    import segno  # only the enrolment page draws a QR code; not imported at start-up

    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _enrol_page(enrolment: second_factor.Enrolment, error: str, *, required: bool, action: str) -> ResponseReturnValue:
    """The enrolment page, while signing in (``required``: no way round it) or from the
    account menu: the QR code and the secret as text, for apps that cannot scan."""
    return _render(
        ENROL_TEMPLATE,
        400 if error else 200,
        title=_("Set up your second factor"),
        required=required,
        qr=_qr(enrolment.uri),
        secret=enrolment.secret,
        action=action,
        error=error,
    )


def _code() -> str:
    value = request.form.get("code", "")
    return value if isinstance(value, str) else ""


class AuthDBView(FabAuthDBView):
    login_template = LOGIN_TEMPLATE

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    @limits.sign_in("username", refused=_login_refused)
    def login(self) -> ResponseReturnValue:
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            # No "next" is the common case, not an invalid redirect (which FAB's check would log).
            wanted = request.args.get("next", "")
            next_url = get_safe_redirect(wanted) if wanted else self.appbuilder.get_url_for_index
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                limits.mark_failed()
                signin.audit_failed(channel=CHANNEL, username=form.username.data, reason="credentials")
                db.session.commit()
                flash(as_unicode(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            return signin.after_password(user, next_url) or signin.finish(
                user, channel=CHANNEL, second_factor_used=False, next_target=next_url
            )
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)

    @expose("/login/code", methods=["GET", "POST"])
    @no_cache
    @_code_limit
    def code(self) -> ResponseReturnValue:
        user = _waiting_user(signin.CODE)
        if user is None:
            return redirect(url_for("AuthDBView.login"))
        error = ""
        if request.method == "POST":
            if second_factor.check_code(db.session, user.id, _code(), secret_key=signin.secret_key()):
                return signin.finish(user, channel=CHANNEL, second_factor_used=True)
            again = _wrong_code(user, "second_factor")
            if again is not None:
                return again
            error = _("This code is not right, or it was used already. Enter the code your app shows now.")
        return _render(CODE_TEMPLATE, 400 if error else 200, title=_("Sign-in code"), error=error)

    @expose("/login/enrol", methods=["GET", "POST"])
    @no_cache
    @_code_limit
    def enrol(self) -> ResponseReturnValue:
        user = _waiting_user(signin.ENROL)
        if user is None:
            return redirect(url_for("AuthDBView.login"))
        enrolment = second_factor.begin_enrolment(db.session, user.id, user.username, secret_key=signin.secret_key())
        db.session.commit()
        error = ""
        if request.method == "POST":
            if second_factor.confirm_enrolment(
                db.session, user.id, _code(), secret_key=signin.secret_key(), ip=request.remote_addr
            ):
                flash(_("Your second factor is on. From now on, sign in with a code from your app."), "success")
                return signin.finish(user, channel=CHANNEL, second_factor_used=True)
            again = _wrong_code(user, "second_factor_enrolment")
            if again is not None:
                return again
            error = _("This code is not right. Enter the code your app shows now.")
        return _enrol_page(enrolment, error, required=True, action=url_for("AuthDBView.enrol"))


class SecondFactorView(BaseView):
    """A signed-in staff member's own second factor; administrators' resets and the
    municipality's requirement. Open to every staff account (no stored permission: what may
    be done is decided by app.domain.second_factor)."""

    route_base = "/second-factor"
    default_view = "page"

    def _me(self) -> User:
        actor = web.current_actor()
        if actor is None:
            abort(redirect(self.appbuilder.get_url_for_login_with(request.path)))
        if not actor.active or not actor.has(*roles.STAFF_ROLES):
            abort(403)
        user = db.session.get(User, actor.user_id)
        if user is None:
            abort(403)
        return user

    def _page(self, status: int = 200, **context: object) -> ResponseReturnValue:
        user = self._me()
        actor = web.require_actor()
        municipality = None
        if actor.municipality_id is not None and second_factor.may_set_requirement(actor, actor.municipality_id):
            municipality = access.get_municipality(db.session, actor, actor.municipality_id)
        return _render(
            MANAGE_TEMPLATE,
            status,
            title=_("Second factor"),
            enabled=second_factor.is_enabled(db.session, user.id),
            required=second_factor.required_for(db.session, user.id, current_app.config),
            municipality=municipality,
            **context,
        )

    @expose("/")
    @no_cache
    def page(self) -> ResponseReturnValue:
        return self._page()

    @expose("/enrol", methods=["GET", "POST"])
    @no_cache
    @limits.limited("HAMAYNK_LIMIT_SECOND_FACTOR", keys=(limits.client_key,), failures_only=True)
    def enrol(self) -> ResponseReturnValue:
        user = self._me()
        try:
            enrolment = second_factor.begin_enrolment(
                db.session, user.id, user.username, secret_key=signin.secret_key()
            )
        except second_factor.AlreadyEnabled:
            return redirect(url_for("SecondFactorView.page"))
        db.session.commit()
        error = ""
        if request.method == "POST":
            if second_factor.confirm_enrolment(
                db.session, user.id, _code(), secret_key=signin.secret_key(), ip=request.remote_addr
            ):
                db.session.commit()
                flash(_("Your second factor is on. From now on, sign in with a code from your app."), "success")
                return redirect(url_for("SecondFactorView.page"))
            limits.mark_failed()
            error = _("This code is not right. Enter the code your app shows now.")
        return _enrol_page(enrolment, error, required=False, action=url_for("SecondFactorView.enrol"))

    @expose("/disable", methods=["POST"])
    @no_cache
    @limits.limited("HAMAYNK_LIMIT_SECOND_FACTOR", keys=(limits.client_key,), failures_only=True)
    def disable(self) -> ResponseReturnValue:
        user = self._me()
        if second_factor.required_for(db.session, user.id, current_app.config):
            return self._page(400, error=_("Your account must use a second factor. Nothing was changed."))
        try:
            done = second_factor.disable(
                db.session, user.id, _code(), secret_key=signin.secret_key(), ip=request.remote_addr
            )
        except second_factor.NotEnabled:
            return redirect(url_for("SecondFactorView.page"))
        if not done:
            db.session.rollback()
            limits.mark_failed()
            return self._page(400, error=_("This code is not right. Nothing was changed."))
        db.session.commit()
        flash(_("Your second factor is off."), "success")
        return redirect(url_for("SecondFactorView.page"))

    @expose("/reset/<int:user_id>", methods=["POST"])
    @no_cache
    def reset(self, user_id: int) -> ResponseReturnValue:
        self._me()
        if user_id > MAX_PK:
            abort(404)
        actor = web.require_actor()
        try:
            second_factor.reset(db.session, actor, user_id, ip=request.remote_addr)
        except second_factor.NotAllowed:
            abort(404)
        except second_factor.NotEnabled:
            flash(_("This account has no second factor. Nothing was changed."), "info")
            return redirect(url_for("StaffView.list"))
        db.session.commit()
        flash(
            _("The second factor of this account is off. It is set up again at the next sign-in if required."),
            "success",
        )
        return redirect(url_for("StaffView.list"))

    @expose("/municipality", methods=["POST"])
    @no_cache
    def municipality(self) -> ResponseReturnValue:
        self._me()
        actor = web.require_actor()
        if actor.municipality_id is None or not second_factor.may_set_requirement(actor, actor.municipality_id):
            abort(403)
        required = request.form.get("required") == "yes"
        if second_factor.set_requirement(db.session, actor, actor.municipality_id, required, ip=request.remote_addr):
            db.session.commit()
        if required:
            flash(_("Administrators of your municipality now sign in with a second factor."), "success")
        else:
            flash(_("Administrators of your municipality may sign in without a second factor."), "success")
        return redirect(url_for("SecondFactorView.page"))


__all__ = ["AuthDBView", "SecondFactorView"]
