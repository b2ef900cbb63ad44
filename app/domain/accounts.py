"""Citizen accounts: registration, e-mail verification, signing in with a password, password
reset, the profile, and accounts of outside identity providers.

A citizen account is a Flask-AppBuilder user (username = the e-mail address in lower case)
with the citizen role and no staff profile, plus a :class:`~app.models.CitizenProfile`.
Until its address is verified a new account is inactive: it cannot sign in here nor through
the staff sign-in page.

Nothing here tells a stranger whether an address has an account: registering a taken address
looks exactly like registering a new one (the owner gets an e-mail saying someone tried),
a reset request always gets the same answer, and a failed sign-in has one message for a
wrong address and a wrong password. Each of those paths computes a password hash whether
or not the account exists, so their times differ by no more than noise.

Links in e-mails carry signed tokens (itsdangerous, one salt per purpose, a maximum age):
the verification token names the user and the address it was sent to, and stops working
once the address is verified; the reset token names the user and a fingerprint of the
current password hash, so it stops working once the password changed. The views build the
links' paths; e-mails are written through app.domain.citizen_notices in the caller's
transaction (the caller commits).

Every function here works on a session and the settings handed in: no request.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.domain import access, citizen_notices, inputs, roles
from app.domain.fieldtypes import normalize_phone, normalize_psn
from app.domain.identity import ExternalIdentity, IdentityProvider
from app.models import CitizenIdentity, CitizenProfile, Role, User
from app.models.base import utcnow

LANGUAGES = ("hy", "en", "ru")
# ab_user.first_name and last_name hold 64 characters each; username 128 (it is the address).
MAX_NAME_PART = 64
MAX_NAME = 2 * MAX_NAME_PART
MAX_EMAIL = 128
# Longer passwords are refused before anything hashes them (a megabyte-long one would be a
# cheap way to keep the server busy); zxcvbn reads at most MAX_CHECKED characters.
MAX_PASSWORD = 256
MAX_CHECKED = 100
MAX_PHONE_INPUT = 32
MAX_ADDRESS = 500

DEFAULTS: dict[str, Any] = {
    "HAMAYNK_PASSWORD_MIN_LENGTH": 10,
    # zxcvbn's score, 0 (guessed at once) to 4 (very hard): 3 resists an offline attack on a slow hash.
    "HAMAYNK_PASSWORD_MIN_SCORE": 3,
    "HAMAYNK_VERIFY_MAX_AGE": 3 * 24 * 3600,
    "HAMAYNK_RESET_MAX_AGE": 3600,
}

VERIFY_SALT = "hamaynk.account.verify"
RESET_SALT = "hamaynk.account.reset"

# What a sign-in attempt came to.
SIGNED_IN = "signed_in"
WRONG = "wrong"
UNVERIFIED = "unverified"

# What following a link came to.
DONE = "done"
USED = "used"
EXPIRED = "expired"
INVALID = "invalid"

# An event of its own for "someone tried to register with your address" (not an account
# event of app.domain.citizen_notices: its texts come from here, and it carries no secret).
ACCOUNT_EXISTS = "account_exists"

__all__ = [
    "ACCOUNT_EXISTS",
    "DEFAULTS",
    "DONE",
    "EXPIRED",
    "INVALID",
    "LANGUAGES",
    "SIGNED_IN",
    "UNVERIFIED",
    "USED",
    "WRONG",
    "IdentityOutcome",
    "LoginResult",
    "ProfileInput",
    "Registration",
    "authenticate",
    "find_user",
    "is_citizen_account",
    "normalize_email",
    "password_problem",
    "read_profile",
    "read_registration",
    "register",
    "request_reset",
    "resend_verification",
    "reset_password",
    "reset_token",
    "reset_user",
    "save_profile",
    "sign_in_with_identity",
    "split_name",
    "verify_email",
    "verify_token",
]


def setting(config: Mapping[str, Any], name: str) -> Any:
    value = config.get(name)
    return DEFAULTS[name] if value is None else value


# -- reading what people typed ---------------------------------------------------------------------


def _text(raw: Mapping[str, Any], name: str, errors: dict[str, str], limit: int) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        return ""
    problem = inputs.text_problem(value)
    if problem:
        errors.setdefault(name, problem)
        return ""
    value = value.strip()
    if len(value) > limit:
        errors.setdefault(name, _("Enter at most %(count)d characters.", count=limit))
        return ""
    return value


def _secret(raw: Mapping[str, Any], name: str) -> str:
    # A password as typed: never stripped, never checked as text before its own checks.
    value = raw.get(name)
    return value if isinstance(value, str) else ""


def normalize_email(value: Any) -> str:
    """``value`` as the key of an account: trimmed, lower case, bounded (for look-ups and
    rate-limit keys; validation is :func:`clean_email`)."""
    if not isinstance(value, str) or inputs.text_problem(value):
        # Control characters (NUL, which PostgreSQL refuses in text) name no account.
        return ""
    return value.strip().lower()[: MAX_EMAIL + 1]


def clean_email(value: str) -> tuple[str, str | None]:
    """``(address, problem)``: a valid address in lower case, or why it is not one."""
    if not value:
        return "", _("Enter your e-mail address.")
    if len(value) > MAX_EMAIL:
        return "", _("Enter an e-mail address of at most %(count)d characters.", count=MAX_EMAIL)
    try:
        normalized = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return "", _("Enter a valid e-mail address, such as name@example.am.")
    return normalized.lower(), None


def split_name(name: str) -> tuple[str, str]:
    """First and last name as Flask-AppBuilder stores them (the rest of a long name is cut)."""
    first, _sep, last = name.strip().partition(" ")
    return first[:MAX_NAME_PART], (last.strip() or "-")[:MAX_NAME_PART]


def _name(raw: Mapping[str, Any], errors: dict[str, str]) -> str:
    name = " ".join(_text(raw, "name", errors, MAX_NAME).split())
    if "name" in errors:
        return ""
    if not name:
        errors["name"] = _("Enter your name.")
        return ""
    first, _sep, rest = name.partition(" ")
    if len(first) > MAX_NAME_PART or len(rest) > MAX_NAME_PART:
        errors["name"] = _(
            "Enter a shorter name: at most %(count)d characters for the first name and as many for the rest.",
            count=MAX_NAME_PART,
        )
        return ""
    return name


def _language(raw: Mapping[str, Any], default: str) -> str:
    value = raw.get("language")
    return value if isinstance(value, str) and value in LANGUAGES else (default if default in LANGUAGES else "hy")


# -- passwords ----------------------------------------------------------------------------------


def _user_inputs(name: str, email: str) -> list[str]:
    local = email.split("@", 1)[0]
    words = [*name.split(), name.replace(" ", ""), email, local, *[w for w in local.replace("_", ".").split(".") if w]]
    return [w.lower() for w in words if len(w) >= 3]


def password_problem(password: str, *, name: str = "", email: str = "", config: Mapping[str, Any]) -> str | None:
    """Why ``password`` is not good enough, in the current language, or ``None``.

    Long enough (``HAMAYNK_PASSWORD_MIN_LENGTH``, default 10) and hard enough to guess
    (zxcvbn's score at least ``HAMAYNK_PASSWORD_MIN_SCORE``, default 3), judged together
    with the person's own name and address, which make a password easy to guess. No rules
    about digits, capitals or symbols: a phrase of several unrelated words is best."""
    minimum = int(setting(config, "HAMAYNK_PASSWORD_MIN_LENGTH"))
    if len(password) < minimum:
        return _(
            "Use at least %(count)d characters. A phrase of several unrelated words is easy to remember "
            "and hard to guess.",
            count=minimum,
        )
    if len(password) > MAX_PASSWORD:
        return _("Use at most %(count)d characters.", count=MAX_PASSWORD)
    problem = inputs.text_problem(password)
    if problem:
        return problem
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    result = zxcvbn(password[:MAX_CHECKED], user_inputs=_user_inputs(name, email))
    own = sum(len(m["token"]) for m in result["sequence"] if m.get("dictionary_name") == "user_inputs")
    if own * 2 >= min(len(password), MAX_CHECKED):
        return _("This password is mostly your name or e-mail address, which others can guess. Choose another.")
    if int(result["score"]) >= int(setting(config, "HAMAYNK_PASSWORD_MIN_SCORE")):
        return None
    return _why_weak(result["sequence"])


def _why_weak(sequence: Sequence[Mapping[str, Any]]) -> str:
    longest = max(sequence, key=lambda m: len(m.get("token", "")), default=None)
    pattern = longest.get("pattern") if longest else None
    advice = _("Add a few more unrelated words: length makes a password strong.")
    if pattern == "dictionary":
        source = longest.get("dictionary_name") if longest else None
        if source == "passwords":
            why = _("This is one of the passwords people use most, so it is tried first.")
        elif source == "user_inputs":
            why = _("This password contains your name or e-mail address, which others can guess.")
        elif source in ("surnames", "male_names", "female_names"):
            why = _("Names on their own are easy to guess.")
        else:
            why = _("A common word or a word with a few letters changed is easy to guess.")
    elif pattern == "spatial":
        why = _("Rows and patterns of keys on the keyboard are easy to guess.")
    elif pattern == "repeat":
        why = _("Repeated characters or words are easy to guess.")
    elif pattern == "sequence":
        why = _("Sequences such as “abc” or “6543” are easy to guess.")
    elif pattern in ("regex", "date"):
        why = _("Dates and years are easy to guess.")
    else:
        why = _("This password is too easy to guess.")
    return f"{why} {advice}"


def hash_password(password: str, config: Mapping[str, Any]) -> str:
    """The stored form of a password, as Flask-AppBuilder makes it (so either sign-in page works)."""
    return generate_password_hash(
        password,
        method=str(config.get("FAB_PASSWORD_HASH_METHOD") or "scrypt"),
        salt_length=int(config.get("FAB_PASSWORD_HASH_SALT_LENGTH") or 16),
    )


@functools.cache
def _dummy_hash(method: str) -> str:
    # Checked against when there is no such account, so a miss costs what a hit costs.
    return generate_password_hash(secrets.token_hex(16), method=method)


# -- finding accounts ---------------------------------------------------------------------------


def find_user(session: Session, email: str) -> User | None:
    """The account whose user name (citizens: the address, stored in lower case) or address
    is ``email`` (lower case); the user name first."""
    if not email:
        return None
    user = session.execute(select(User).where(User.username == email)).scalar_one_or_none()
    if user is None:
        user = session.execute(select(User).where(func.lower(User.email) == email).limit(1)).scalars().first()
    return user


def _profile(session: Session, user_id: int) -> CitizenProfile | None:
    return session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one_or_none()


def is_citizen_account(session: Session, user: User) -> bool:
    """A citizen account: the citizen role or no role at all, and no staff profile."""
    actor = access.load_actor(session, user.id)
    return actor is not None and actor.is_citizen


def _citizen_role(session: Session) -> Role:
    role = session.execute(select(Role).where(Role.name == roles.CITIZEN)).scalar_one_or_none()
    if role is None:  # roles are synced at install; a fresh database may lack them
        role = Role(name=roles.CITIZEN)
        session.add(role)
        session.flush()
    return role


def _create_citizen(
    session: Session,
    *,
    email: str,
    name: str,
    password_hash: str,
    language: str,
    active: bool,
    verified: bool,
) -> tuple[User, CitizenProfile]:
    first, last = split_name(name)
    user = User(
        username=email,
        email=email,
        first_name=first,
        last_name=last,
        active=active,
        password=password_hash,
        login_count=0,
        fail_login_count=0,
    )
    user.roles = [_citizen_role(session)]
    session.add(user)
    session.flush()
    profile = CitizenProfile(
        user_id=user.id,
        language=language,
        channels=list(citizen_notices.DEFAULT_CHANNELS),
        email_verified_at=utcnow() if verified else None,
    )
    session.add(profile)
    session.flush()
    return user, profile


# -- tokens -------------------------------------------------------------------------------------


def _serializer(config: Mapping[str, Any], salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(config["SECRET_KEY"]), salt=salt)


def _fingerprint(config: Mapping[str, Any], password_hash: str) -> str:
    key = str(config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, (password_hash or "").encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def verify_token(config: Mapping[str, Any], user: User) -> str:
    """The token of a verification link for ``user``'s current address."""
    return str(_serializer(config, VERIFY_SALT).dumps({"u": int(user.id), "e": (user.email or "").lower()}))


def reset_token(config: Mapping[str, Any], user: User) -> str:
    """The token of a reset link for ``user``, good until the password changes."""
    return str(_serializer(config, RESET_SALT).dumps({"u": int(user.id), "p": _fingerprint(config, user.password)}))


def _load(config: Mapping[str, Any], salt: str, token: str, max_age: int) -> tuple[str, dict[str, Any] | None]:
    if not isinstance(token, str) or not token or len(token) > 1000:
        return INVALID, None
    try:
        data = _serializer(config, salt).loads(token, max_age=max_age)
    except SignatureExpired:
        return EXPIRED, None
    except BadSignature:
        return INVALID, None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return INVALID, None
    return DONE, data


# -- registration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    name: str
    email: str
    password: str
    language: str


def read_registration(
    raw: Mapping[str, Any], *, config: Mapping[str, Any], default_language: str
) -> tuple[Registration | None, dict[str, str]]:
    """The registration form read and checked: ``(registration, {})`` or ``(None, errors)``
    with one message per field (``name``, ``email``, ``password``, ``password_again``)."""
    errors: dict[str, str] = {}
    name = _name(raw, errors)
    email, problem = clean_email(_text(raw, "email", errors, MAX_EMAIL * 4))
    if problem and "email" not in errors:
        errors["email"] = problem
    password = _secret(raw, "password")
    again = _secret(raw, "password_again")
    if not password:
        errors["password"] = _("Choose a password.")
    else:
        weak = password_problem(password, name=name, email=email, config=config)
        if weak:
            errors["password"] = weak
    if not again:
        errors["password_again"] = _("Enter the password again.")
    elif again != password:
        errors["password_again"] = _("The two passwords are not the same. Enter the same password twice.")
    if errors:
        return None, errors
    return Registration(name=name, email=email, password=password, language=_language(raw, default_language)), {}


def register(
    session: Session,
    data: Registration,
    *,
    config: Mapping[str, Any],
    verify_path: Callable[[str], str],
    reset_request_path: str,
) -> None:
    """Create the account and write its verification e-mail, or, when the address already
    has an account, tell its owner instead (a new verification link when that account was
    never verified). The caller shows the same page either way and commits."""
    password_hash = hash_password(data.password, config)  # hashed on both paths: same time
    existing = find_user(session, data.email)
    if existing is None:
        try:
            with session.begin_nested():
                user, _profile_row = _create_citizen(
                    session,
                    email=data.email,
                    name=data.name,
                    password_hash=password_hash,
                    language=data.language,
                    active=False,
                    verified=False,
                )
        except IntegrityError:  # registered by a concurrent request meanwhile
            existing = find_user(session, data.email)
        else:
            _send_verification(session, user, config=config, verify_path=verify_path)
            return
    if existing is None:
        return
    profile = _profile(session, existing.id)
    if profile is not None and profile.email_verified_at is None and is_citizen_account(session, existing):
        _send_verification(session, existing, config=config, verify_path=verify_path)
        return
    _tell_owner(session, existing, config=config, reset_request_path=reset_request_path)


def _send_verification(
    session: Session, user: User, *, config: Mapping[str, Any], verify_path: Callable[[str], str]
) -> None:
    citizen_notices.emit(
        session,
        event=citizen_notices.ACCOUNT_VERIFY,
        user_id=user.id,
        municipality_id=None,
        config=config,
        context={"path": verify_path(verify_token(config, user))},
    )


def _tell_owner(session: Session, user: User, *, config: Mapping[str, Any], reset_request_path: str) -> None:
    link = citizen_notices.public_url(config, reset_request_path)
    texts: dict[str, dict[str, str]] = {"subject": {}, "body": {}}
    for language in LANGUAGES:
        with force_locale(language):
            texts["subject"][language] = _("Someone tried to create an account with your address")
            texts["body"][language] = _(
                "Someone tried to create a Hamaynk account with this e-mail address, which already has one. "
                "If it was you, sign in; if you forgot your password, choose a new one here:\n%(link)s\n\n"
                "If it was not you, ignore this message: nothing was changed.",
                link=link,
            )
    citizen_notices.emit(
        session,
        event=ACCOUNT_EXISTS,
        user_id=user.id,
        municipality_id=None,
        config=config,
        channels=["email"],
        context=texts,
    )


def resend_verification(
    session: Session, email: str, *, config: Mapping[str, Any], verify_path: Callable[[str], str]
) -> None:
    """A new verification link for the unverified account of ``email``, if there is one;
    nothing otherwise (the caller answers the same either way)."""
    user = find_user(session, normalize_email(email))
    if user is None:
        return
    profile = _profile(session, user.id)
    if profile is not None and profile.email_verified_at is None and is_citizen_account(session, user):
        _send_verification(session, user, config=config, verify_path=verify_path)


def verify_email(session: Session, token: str, *, config: Mapping[str, Any]) -> tuple[str, int | None]:
    """Follow a verification link: ``(DONE, user_id)`` when it verified the address and
    opened the account; ``USED`` when the address is verified already (links work once);
    ``EXPIRED`` or ``INVALID`` otherwise. The caller commits."""
    status, data = _load(config, VERIFY_SALT, token, int(setting(config, "HAMAYNK_VERIFY_MAX_AGE")))
    if data is None:
        return status, None
    user = session.get(User, data["u"])
    profile = _profile(session, data["u"]) if user is not None else None
    if user is None or profile is None or (user.email or "").lower() != data.get("e"):
        return INVALID, None
    if profile.email_verified_at is not None:
        return USED, user.id
    profile.email_verified_at = utcnow()
    user.active = True
    return DONE, user.id


# -- signing in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    status: str  # SIGNED_IN, WRONG or UNVERIFIED
    user: User | None = None
    language: str | None = None
    citizen: bool = False


def authenticate(session: Session, email: str, password: str, *, config: Mapping[str, Any]) -> LoginResult:
    """Check an address and password. One answer, :data:`WRONG`, for an unknown address, a
    wrong password and a disabled account; :data:`UNVERIFIED` only with the right password
    of an account whose address was never verified. A password hash is computed on every
    path. Records the attempt on the account (the caller commits)."""
    method = str(config.get("FAB_PASSWORD_HASH_METHOD") or "scrypt")
    user = find_user(session, normalize_email(email)) if isinstance(email, str) else None
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        password = ""
    if user is None:
        check_password_hash(_dummy_hash(method), password or "-")
        return LoginResult(WRONG)
    if not password or not check_password_hash(user.password or _dummy_hash(method), password):
        user.fail_login_count = (user.fail_login_count or 0) + 1
        return LoginResult(WRONG)
    profile = _profile(session, user.id)
    citizen = is_citizen_account(session, user)
    if citizen and profile is not None and profile.email_verified_at is None:
        return LoginResult(UNVERIFIED, user)
    if not user.active:
        return LoginResult(WRONG)
    user.last_login = utcnow()
    user.login_count = (user.login_count or 0) + 1
    user.fail_login_count = 0
    return LoginResult(SIGNED_IN, user, profile.language if profile is not None else None, citizen)


# -- password reset -----------------------------------------------------------------------------


def request_reset(session: Session, email: str, *, config: Mapping[str, Any], reset_path: Callable[[str], str]) -> None:
    """Write a reset link to the citizen account of ``email`` (verified or not: the link
    proves the address); nothing for an unknown address or a staff account (staff passwords
    are their administrator's). The caller answers the same either way and commits."""
    user = find_user(session, normalize_email(email))
    if user is None or not is_citizen_account(session, user):
        return
    profile = _profile(session, user.id)
    if profile is None or (not user.active and profile.email_verified_at is not None):
        return  # a disabled account stays disabled
    citizen_notices.emit(
        session,
        event=citizen_notices.PASSWORD_RESET,
        user_id=user.id,
        municipality_id=None,
        config=config,
        context={"path": reset_path(reset_token(config, user))},
    )


def reset_user(session: Session, token: str, *, config: Mapping[str, Any]) -> tuple[str, User | None]:
    """The account a reset link is for: ``(DONE, user)``, or ``(EXPIRED | INVALID | USED, None)``."""
    status, data = _load(config, RESET_SALT, token, int(setting(config, "HAMAYNK_RESET_MAX_AGE")))
    if data is None:
        return status, None
    user = session.get(User, data["u"])
    if user is None or not is_citizen_account(session, user):
        return INVALID, None
    if not hmac.compare_digest(str(data.get("p", "")), _fingerprint(config, user.password)):
        return USED, None
    return DONE, user


def reset_password(
    session: Session, token: str, raw: Mapping[str, Any], *, config: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    """Set a new password through a reset link: ``(DONE, {})``; ``(DONE, errors)`` when the
    form needs another try (nothing changed); or the link's problem. The link then stops
    working (the password hash it was bound to is gone), and an account that was never
    verified is verified (the link reached its address). The caller commits.

    Sessions elsewhere are not ended here yet (sign-out everywhere is issue 12)."""
    status, user = reset_user(session, token, config=config)
    if user is None:
        return status, {}
    errors: dict[str, str] = {}
    password = _secret(raw, "password")
    again = _secret(raw, "password_again")
    name = f"{user.first_name or ''} {user.last_name or ''}".replace(" -", "")
    if not password:
        errors["password"] = _("Choose a password.")
    else:
        weak = password_problem(password, name=name, email=user.email or "", config=config)
        if weak:
            errors["password"] = weak
    if not again:
        errors["password_again"] = _("Enter the password again.")
    elif again != password:
        errors["password_again"] = _("The two passwords are not the same. Enter the same password twice.")
    if errors:
        return DONE, errors
    user.password = hash_password(password, config)
    user.fail_login_count = 0
    profile = _profile(session, user.id)
    if profile is not None and profile.email_verified_at is None:
        profile.email_verified_at = utcnow()
        user.active = True
    return DONE, {}


# -- the profile --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInput:
    name: str
    psn: str | None
    phone: str | None
    address: str | None
    language: str
    channels: tuple[str, ...]


def read_profile(
    raw: Mapping[str, Any], channels: Sequence[str], channel_values: Sequence[str], *, locked_psn: bool = False
) -> tuple[ProfileInput | None, dict[str, str]]:
    """The profile form read and checked; ``channels`` are the ones that may be chosen and
    ``channel_values`` the ones that were (a form sends a list). The public service number
    and phone are checked as the front office checks them."""
    errors: dict[str, str] = {}
    name = _name(raw, errors)
    cleaned: dict[str, str | None] = {}
    for key, normalize, limit in (("psn", normalize_psn, 32), ("phone", normalize_phone, MAX_PHONE_INPUT)):
        value = _text(raw, key, errors, limit)
        cleaned[key] = None
        if value and key not in errors:
            try:
                cleaned[key] = normalize(value)
            except ValueError as exc:
                errors[key] = str(exc)
    address = _text(raw, "address", errors, MAX_ADDRESS)
    language = raw.get("language")
    if language not in LANGUAGES:
        errors["language"] = _("Choose one of the languages listed.")
    chosen = []
    for value in channel_values:
        if not isinstance(value, str) or value not in channels:
            errors["channels"] = _("Choose only the ways of contact listed.")
            break
        if value not in chosen:
            chosen.append(value)
    if errors:
        return None, errors
    return ProfileInput(
        name=name,
        psn=cleaned["psn"],
        phone=cleaned["phone"],
        address=address or None,
        language=str(language),
        channels=tuple(c for c in channels if c in chosen),
    ), {}


def save_profile(session: Session, user: User, profile: CitizenProfile, data: ProfileInput) -> None:
    """Store the profile (the caller commits). A public service number an identity provider
    vouched for stays as it is: only another sign-in there changes it."""
    user.first_name, user.last_name = split_name(data.name)
    if profile.identity_verified_at is None:
        profile.psn = data.psn
    profile.phone = data.phone
    profile.address = data.address
    profile.language = data.language
    profile.channels = list(data.channels)
    profile.updated_at = utcnow()


# -- outside identity providers -------------------------------------------------------------------


# What signing in through a provider came to.
LINKED = "linked"
CREATED = "created"
EMAIL_TAKEN = "email_taken"
NO_EMAIL = "no_email"
LINKED_ELSEWHERE = "linked_elsewhere"
REFUSED = "refused"


@dataclass(frozen=True)
class IdentityOutcome:
    status: str  # SIGNED_IN, LINKED, CREATED, EMAIL_TAKEN, NO_EMAIL, LINKED_ELSEWHERE or REFUSED
    user_id: int | None = None
    language: str | None = None


def _vouch(profile: CitizenProfile, user: User, provider: IdentityProvider, identity: ExternalIdentity) -> None:
    """What a provider that vouches for people says about this one goes on the account."""
    if not (provider.verifies_identity and identity.verified):
        return
    profile.identity_verified_at = utcnow()
    profile.identity_provider = provider.key
    if identity.psn:
        # Not a public service number: the account keeps the one it has.
        with contextlib.suppress(ValueError):
            profile.psn = normalize_psn(identity.psn)
    if identity.name and not inputs.text_problem(identity.name):
        user.first_name, user.last_name = split_name(" ".join(identity.name.split())[:MAX_NAME])


def sign_in_with_identity(
    session: Session,
    *,
    provider: IdentityProvider,
    identity: ExternalIdentity,
    signed_in_user_id: int | None,
    default_language: str,
    config: Mapping[str, Any],
) -> IdentityOutcome:
    """Link or sign in the person a provider vouched for (the caller commits and signs in).

    * Signed in already: the identity is linked to that account (:data:`LINKED`), unless it
      is linked to another account (:data:`LINKED_ELSEWHERE`).
    * Known identity: its account signs in (:data:`SIGNED_IN`; :data:`REFUSED` when the
      account is disabled or belongs to staff).
    * New identity: a new citizen account with the provider's address (:data:`CREATED`),
      unless that address has an account (:data:`EMAIL_TAKEN`: sign in there and link from
      the profile; or, for a provider with ``link_by_email`` that verified the address,
      linked to it) or the provider shared no address (:data:`NO_EMAIL`).
    """
    existing = session.execute(
        select(CitizenIdentity).where(
            CitizenIdentity.provider == provider.key, CitizenIdentity.subject == identity.subject
        )
    ).scalar_one_or_none()
    now = utcnow()
    if signed_in_user_id is not None:
        if existing is not None and existing.user_id != signed_in_user_id:
            return IdentityOutcome(LINKED_ELSEWHERE)
        user = session.get(User, signed_in_user_id)
        profile = _profile(session, signed_in_user_id)
        if user is None or profile is None:
            return IdentityOutcome(REFUSED)
        if existing is None:
            session.add(
                CitizenIdentity(user_id=user.id, provider=provider.key, subject=identity.subject, last_used_at=now)
            )
        else:
            existing.last_used_at = now
        _vouch(profile, user, provider, identity)
        return IdentityOutcome(LINKED, user.id, profile.language)
    if existing is not None:
        user = session.get(User, existing.user_id)
        profile = _profile(session, existing.user_id)
        if user is None or profile is None or not user.active or not is_citizen_account(session, user):
            return IdentityOutcome(REFUSED)
        existing.last_used_at = now
        _vouch(profile, user, provider, identity)
        user.last_login = now
        user.login_count = (user.login_count or 0) + 1
        return IdentityOutcome(SIGNED_IN, user.id, profile.language)
    email, problem = clean_email((identity.email or "").strip())
    if problem:
        return IdentityOutcome(NO_EMAIL)
    owner = find_user(session, email)
    if owner is not None:
        profile = _profile(session, owner.id)
        if (
            provider.link_by_email
            and identity.email_verified
            and profile is not None
            and owner.active
            and is_citizen_account(session, owner)
        ):
            session.add(
                CitizenIdentity(user_id=owner.id, provider=provider.key, subject=identity.subject, last_used_at=now)
            )
            _vouch(profile, owner, provider, identity)
            return IdentityOutcome(SIGNED_IN, owner.id, profile.language)
        return IdentityOutcome(EMAIL_TAKEN)
    name = (
        " ".join((identity.name or "").split())[:MAX_NAME]
        if identity.name and not inputs.text_problem(identity.name)
        else ""
    )
    user, profile = _create_citizen(
        session,
        email=email,
        name=name or email.split("@", 1)[0][:MAX_NAME_PART],
        # Nobody knows this password: a password of their own comes through "forgot password".
        password_hash=hash_password(secrets.token_urlsafe(32), config),
        language=default_language if default_language in LANGUAGES else "hy",
        active=True,
        verified=identity.email_verified,
    )
    session.add(CitizenIdentity(user_id=user.id, provider=provider.key, subject=identity.subject, last_used_at=now))
    _vouch(profile, user, provider, identity)
    user.last_login = now
    user.login_count = 1
    return IdentityOutcome(CREATED, user.id, profile.language)
