"""Fees and payments: what a service costs in a municipality, item by item, the payments that
settle it, and the payment providers (plug-ins) they go through.

* :func:`quote` — the fee of a service in one municipality as the payer sees it: the
  declared fee items (or one "Service fee" item of ``Service.fee``), or, when the
  municipality set its own fee (``ServiceActivation.fee_override``), that fee as one item.
  Whole dram (֏, AMD).
* :class:`~app.models.Payment` rows record each attempt to pay through one provider. A
  draft's payments (paid before the citizen submits) move to the application filed from it
  (:func:`attach_to_application`).
* ``Application.payment_status``: ``None`` when nothing is to be paid, else ``due``,
  ``paid`` or ``waived``. Staff record a payment made at the office with its receipt
  number (:func:`record_at_office`); a municipal administrator or head may waive the fee
  (:func:`waive`).
* Providers (:class:`PaymentProvider`) come from the ``register_payment_providers`` hook and
  the two built in: ``office`` (pay at the office) and ``test`` (:class:`TestGateway`, a
  simulated online gateway whose signed callbacks show the shape a real card or wallet
  gateway plug-in takes; docs/payments.md).
* A gateway's callback (:func:`settle`) is checked here whatever the provider: the payment
  must exist and be that provider's, amount and currency must match, a payment already
  settled stays as it is (the same callback again changes nothing; another one is refused),
  a callback seen before (same nonce) changes nothing.

Plain functions on a session; no request needed. The caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.domain import access, audit, related, roles
from app.domain.access import Actor
from app.domain.declarations import KEY_RE, DeclarationValueError, FeePeriod, Service, optional_text, pick, text
from app.domain.errors import NotAllowed, WorkflowError
from app.models import Application, Payment, PortalDraft, ServiceActivation
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.plugins.host import PluginHost

log = logging.getLogger(__name__)

CURRENCY = "AMD"

# Application.payment_status
DUE = "due"
PAID = "paid"
WAIVED = "waived"
APPLICATION_STATES = (DUE, PAID, WAIVED)

# Payment.status: started → paid | failed | cancelled; waived is recorded by staff.
STARTED = "started"
FAILED = "failed"
CANCELLED = "cancelled"
PAYMENT_STATES = (STARTED, PAID, FAILED, CANCELLED, WAIVED)
SETTLED = (PAID, WAIVED)
# What a gateway's callback may report.
Outcome = Literal["paid", "failed", "cancelled"]
OUTCOMES: tuple[Outcome, ...] = ("paid", "failed", "cancelled")

# The built-in providers.
OFFICE = "office"
TEST = "test"
# Where an app keeps its Providers (app.extensions), collected when the portal starts.
PROVIDERS_EXTENSION = "hamaynk.payments"

# The label of the one item of a service that declares no items, and of a municipality's own fee.
SERVICE_FEE: Mapping[str, str] = MappingProxyType(
    {"hy": "Ծառայության վճար", "en": "Service fee", "ru": "Плата за услугу"}
)
MUNICIPAL_FEE: Mapping[str, str] = MappingProxyType(
    {"hy": "Համայնքի սահմանած վճար", "en": "Fee set by the municipality", "ru": "Плата, установленная общиной"}
)

# A receipt number from the office's cash register or a gateway: letters, digits, "-" and
# "/", starting with a letter or digit, with at least one digit that is not 0.
MAX_RECEIPT = 32
RECEIPT_RE = re.compile(r"^[A-Za-z0-9\u0531-\u0587][A-Za-z0-9\u0531-\u0587/-]*$")
MAX_REASON = 1000
# Roles that may record a payment made at the office, and those that may waive a fee.
RECORDING_ROLES = (roles.CLERK, roles.MUNICIPAL_ADMIN, roles.HEAD)
WAIVING_ROLES = (roles.MUNICIPAL_ADMIN, roles.HEAD)
# How many callback nonces a payment remembers (a gateway retries a handful of times).
KEEP_NONCES = 50

AUDIT_RECORDED = "payment.recorded_at_office"
AUDIT_WAIVED = "payment.waived"
AUDIT_REFUSED = "payment.callback_refused"
AUDIT_RECEIPT_VIEWED = "payment.receipt_viewed"

WAITING_FOR_PAYMENT = _l(
    "This service is processed only once its fee is paid, and the payment is still due: record the payment first."
)
RECEIPT_WRONG = _l(
    "Enter the receipt number as printed: up to %(max)d letters and digits (and - or /), not zero, not negative.",
    max=MAX_RECEIPT,
)
RECEIPT_TAKEN = _l("This receipt number is already recorded for another payment.")
REASON_MISSING = _l("Give the reason for waiving the fee.")
REASON_TOO_LONG = _l("The reason is too long: at most %(max)d characters.", max=MAX_REASON)
NOTHING_DUE = _l("Nothing is due for this application.")
MAY_NOT_RECORD = _l("Only the municipality's clerks, heads and administrators record payments.")
MAY_NOT_WAIVE = _l("Only the municipality's head or administrator may waive a fee.")


class PaymentRefused(WorkflowError):
    """A payment action was refused (nothing due, wrong role, a bad receipt number); nothing
    was written. ``field`` names the input at fault, if one is."""

    default_message = _l("This payment action is not possible.")

    def __init__(self, message: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CallbackRefused(ValueError):
    """A gateway's callback cannot be trusted or does not fit its payment (bad signature,
    outside its time window, unknown reference, wrong amount or currency, a different
    settlement of a payment already settled). Raised by a provider's ``verify_callback``
    and by :func:`settle`; nothing is changed. ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class PaymentProviderError(ValueError):
    """A payment provider declaration is wrong; the message names the plug-in and provider."""


class DuplicatePaymentProvider(PaymentProviderError):
    """Two plug-ins (or a plug-in and the core) register a provider under the same key."""


# -- fee quotes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteItem:
    """One line of a fee quote: a label per language and its amount in whole dram."""

    label: Mapping[str, str]
    amount: int

    def text(self, locale: str | None) -> str:
        return pick(self.label, locale)

    def to_dict(self) -> dict[str, Any]:
        return {"label": dict(self.label), "amount": self.amount}


@dataclass(frozen=True)
class FeeQuote:
    """What the service costs in one municipality: ``items`` sum to ``total``.

    ``must_pay_first``: the service is processed only once paid, and there is something to
    pay. ``overridden``: the municipality set its own fee (one item) instead of the declared.
    """

    items: tuple[QuoteItem, ...]
    total: int
    currency: str = CURRENCY
    must_pay_first: bool = False
    period: FeePeriod = "once"
    overridden: bool = False

    @property
    def free(self) -> bool:
        return self.total <= 0

    def items_json(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.items]


def _fee_override(session: Session, municipality_id: int, service_key: str) -> int | None:
    stmt = access.within(select(ServiceActivation.fee_override), ServiceActivation, municipality_id)
    return session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()


def declared_items(service: Service) -> tuple[QuoteItem, ...]:
    """The service's own fee items: the declared ones, or one "Service fee" item of ``fee``;
    none when it is free."""
    if service.fee_items:
        return tuple(QuoteItem(item.label, int(item.amount)) for item in service.fee_items)
    if service.fee > 0:
        return (QuoteItem(SERVICE_FEE, int(service.fee)),)
    return ()


def quote(session: Session, registry: Any = None, *, municipality_id: int, service: Service) -> FeeQuote:
    """The fee of ``service`` in municipality ``municipality_id``. ``registry`` is part of
    the interface every caller shares and not needed yet."""
    override = _fee_override(session, municipality_id, service.key)
    items: tuple[QuoteItem, ...]
    if override is not None:
        items = (QuoteItem(MUNICIPAL_FEE, int(override)),) if override > 0 else ()
        total = int(override)
    else:
        items = declared_items(service)
        total = sum(item.amount for item in items)
    return FeeQuote(
        items=items,
        total=total,
        currency=CURRENCY,
        must_pay_first=bool(service.payment_first) and total > 0,
        period=service.fee_period,
        overridden=override is not None,
    )


def application_items(application: Application, service: Service | None) -> tuple[QuoteItem, ...]:
    """The items of an application's fee as filed: the declared items when they add up to
    the fee it was filed with, else one item of that fee."""
    if application.fee <= 0:
        return ()
    if service is not None:
        declared = declared_items(service)
        if sum(item.amount for item in declared) == application.fee:
            return declared
        return (QuoteItem(MUNICIPAL_FEE, application.fee),)
    return (QuoteItem(SERVICE_FEE, application.fee),)


# -- the payments of a draft or an application ---------------------------------------------------


@dataclass(frozen=True)
class PaymentState:
    """The payments of a draft or an application, and what they add up to.

    ``paid``: paid amounts cover the fee (when one is known); ``waived``: staff waived the
    fee. ``payments`` newest first.
    """

    paid: bool
    waived: bool
    payments: Sequence[Payment] = field(default_factory=tuple)
    amount_paid: int = 0

    @property
    def settled(self) -> bool:
        return self.paid or self.waived

    @property
    def pending(self) -> Payment | None:
        """The newest payment still waiting for its gateway, if any."""
        return next((p for p in self.payments if p.status == STARTED), None)

    @property
    def receipt_number(self) -> str | None:
        return next((p.receipt_number for p in self.payments if p.status == PAID and p.receipt_number), None)


def _state(payments: Sequence[Payment], fee: int | None) -> PaymentState:
    amount_paid = sum(p.amount for p in payments if p.status == PAID)
    waived = any(p.status == WAIVED for p in payments)
    paid = amount_paid > 0 and (fee is None or amount_paid >= fee)
    return PaymentState(paid=paid, waived=waived, payments=tuple(payments), amount_paid=amount_paid)


def payments_of_draft(session: Session, draft: PortalDraft) -> list[Payment]:
    """The payments started for ``draft`` (not yet moved to an application), newest first."""
    stmt = access.within(select(Payment), Payment, draft.municipality_id)
    stmt = stmt.where(Payment.draft_id == draft.id, Payment.application_id.is_(None))
    return list(session.execute(stmt.order_by(Payment.created_at.desc(), Payment.id.desc())).scalars())


def _payments_statement(municipality_id: Any, application_id: Any) -> Select[Any]:
    stmt = access.within(select(Payment), Payment, municipality_id)
    return stmt.where(Payment.application_id == application_id)


# An application's payments, newest first (app.domain.related).
PAYMENTS = related.Kind("payments", Payment, _payments_statement, (("created_at", True), ("id", True)))


def payments_of_application(session: Session, application: Application) -> list[Payment]:
    """The payments of ``application`` (the caller loaded it through access), newest first."""
    return related.rows(session, application, PAYMENTS)


def draft_payment_state(session: Session, draft: PortalDraft, *, fee: int | None = None) -> PaymentState:
    """The payments made for ``draft`` before it is submitted. With ``fee`` (the quote's
    total) ``paid`` also needs the paid amounts to cover it."""
    return _state(payments_of_draft(session, draft), fee)


def application_payment_state(session: Session, application: Application) -> PaymentState:
    return _state(payments_of_application(session, application), application.fee)


def status_for(application: Application, state: PaymentState) -> str | None:
    """``Application.payment_status`` given its payments."""
    if application.fee <= 0:
        return None
    if state.waived:
        return WAIVED
    if state.paid:
        return PAID
    return DUE


def attach_to_application(session: Session, draft: PortalDraft, application: Application) -> PaymentState:
    """Move ``draft``'s payments to the application filed from it and set its
    ``payment_status`` (``paid`` once they cover its fee). Call inside the filing
    transaction, after the application is written; the caller commits."""
    if draft.municipality_id != application.municipality_id:
        raise ValueError("a draft's payments stay in its municipality")
    for payment in payments_of_draft(session, draft):
        payment.application_id = application.id
    session.flush()
    state = application_payment_state(session, application)
    application.payment_status = status_for(application, state)
    return state


def waiting_for_payment(application: Application, service: Service) -> bool:
    """Whether processing ``application`` must wait for its fee (the service says
    ``payment_first`` and the payment is due)."""
    return bool(service.payment_first) and application.payment_status == DUE


# -- providers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentView:
    """What a provider is told about a payment when it starts: our ``reference`` (send it to
    the gateway; its callback names it), the amount in whole dram, the currency, the items,
    a short ``description`` and the payer's ``language``."""

    reference: str
    amount: int
    currency: str
    items: tuple[Mapping[str, Any], ...]
    description: str
    language: str
    municipality_id: int


@dataclass(frozen=True)
class Redirect:
    """Where ``start`` sends the payer's browser, and the gateway's own id for the payment
    when it hands one out at this point (stored as ``external_id``)."""

    url: str
    external_id: str | None = None


@dataclass(frozen=True)
class CallbackResult:
    """What a verified callback says: which payment (our ``reference``), the gateway's own
    id, the outcome, the amount and currency actually charged, and, when the gateway gives
    them, its receipt number and the callback's ``nonce`` (a callback seen before changes
    nothing)."""

    reference: str
    external_id: str
    outcome: Outcome
    amount: int
    currency: str
    receipt_number: str | None = None
    nonce: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise CallbackRefused(f"unknown outcome {self.outcome!r}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise CallbackRefused(f"amount {self.amount!r} is not a whole number")
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


# start(payment, return_url, callback_url) -> the URL to send the payer to (or a Redirect);
# verify_callback(form, headers, body) -> CallbackResult, raising CallbackRefused. Each is
# called with keyword arguments, and may accept any subset of them.
StartFunction = Callable[..., "str | Redirect"]
VerifyFunction = Callable[..., CallbackResult]


@dataclass(frozen=True)
class PaymentProvider:
    """A way to pay, registered by a plug-in (``register_payment_providers``).

    ``key`` is kebab-case and appears in URLs (``/pay/<key>/callback``); ``label`` names it
    to the payer. An ``online`` provider sends the payer to its gateway (``start``) and
    learns the outcome from the gateway's callback (``verify_callback``); an offline one
    (``online=False``) is paid at the office, where staff record it. ``description`` says
    more on the fee page; ``notice`` is shown next to its button (e.g. "test payments, no
    money moves"); ``currencies`` are those it charges in.
    """

    key: str
    label: Mapping[str, str]
    online: bool = True
    start: StartFunction | None = None
    verify_callback: VerifyFunction | None = None
    description: Mapping[str, str] = field(default_factory=dict)
    notice: Mapping[str, str] = field(default_factory=dict)
    currencies: tuple[str, ...] = (CURRENCY,)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not KEY_RE.match(self.key):
            raise DeclarationValueError(f"payment provider key {self.key!r} must be kebab-case")
        object.__setattr__(self, "label", text(self.label, f"payment provider {self.key!r} label"))
        object.__setattr__(
            self, "description", optional_text(self.description, f"payment provider {self.key!r} description")
        )
        object.__setattr__(self, "notice", optional_text(self.notice, f"payment provider {self.key!r} notice"))
        if isinstance(self.currencies, str):
            object.__setattr__(self, "currencies", (self.currencies,))
        object.__setattr__(self, "currencies", tuple(self.currencies))


def provider_problems(provider: PaymentProvider) -> list[str]:
    """What is wrong with a provider declaration (empty when it is fine)."""
    problems = []
    if not provider.label.get("hy"):
        problems.append(f"payment provider {provider.key!r} label needs an Armenian ('hy') text")
    if provider.online:
        for name in ("start", "verify_callback"):
            if not callable(getattr(provider, name)):
                problems.append(f"online payment provider {provider.key!r} needs a callable {name}")
    if not provider.currencies or any(not re.fullmatch(r"[A-Z]{3}", str(c)) for c in provider.currencies):
        problems.append(f"payment provider {provider.key!r} currencies {provider.currencies!r} must be ISO codes")
    return problems


class Providers(Mapping[str, PaymentProvider]):
    """The payment providers of an install, by key in key order, with who registered each."""

    def __init__(self, providers: Iterable[tuple[str, PaymentProvider]] = ()) -> None:
        self._by_key: dict[str, PaymentProvider] = {}
        self.owners: dict[str, str] = {}
        for owner, provider in providers:
            self.add(owner, provider)

    def add(self, owner: str, provider: PaymentProvider) -> None:
        if provider.key in self._by_key:
            raise DuplicatePaymentProvider(
                f"plug-in {owner!r}: payment provider {provider.key!r} is already registered by {self.owners[provider.key]!r}"
            )
        problems = provider_problems(provider)
        if problems:
            raise PaymentProviderError(f"plug-in {owner!r}: " + "; ".join(problems))
        self._by_key[provider.key] = provider
        self.owners[provider.key] = owner
        self._by_key = dict(sorted(self._by_key.items()))

    def __getitem__(self, key: str) -> PaymentProvider:
        return self._by_key[key]

    def __iter__(self) -> Any:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def listed(self) -> list[PaymentProvider]:
        """Online providers first (the test gateway last of them), then the office."""
        return sorted(self._by_key.values(), key=lambda p: (not p.online, p.key == TEST, p.key))


def collect_providers(
    host: PluginHost, config: Mapping[str, Any], *, builtin: Sequence[PaymentProvider] = ()
) -> Providers:
    """The built-in providers and every plug-in's ``register_payment_providers``, merged and
    sorted by key. A duplicate key raises :class:`DuplicatePaymentProvider`, a bad
    declaration :class:`PaymentProviderError`, a hook that raises :class:`PaymentProviderError`
    too, each naming the plug-in — in a strict host (development, tests). Otherwise the
    plug-in's providers are left out and the problem logged."""
    providers = Providers(("core", p) for p in builtin)
    caller = getattr(host.pm.hook, "register_payment_providers", None)
    impls = sorted(caller.get_hookimpls() if caller is not None else [], key=lambda impl: impl.plugin_name)
    for impl in impls:
        owner = impl.plugin_name
        try:
            value = _call_with(impl.function, {"config": config})
            items = [value] if isinstance(value, PaymentProvider) else list(value or [])
            for item in items:
                if not isinstance(item, PaymentProvider):
                    raise PaymentProviderError(
                        f"plug-in {owner!r}: register_payment_providers() returned {item!r}, which is not a PaymentProvider"
                    )
            for item in items:
                providers.add(owner, item)
        except PaymentProviderError:
            if host.strict:
                raise
            log.exception("payment providers of plug-in %r left out", owner)
        except Exception as exc:
            error = PaymentProviderError(
                f"plug-in {owner!r}: register_payment_providers() raised {type(exc).__name__}: {exc}"
            )
            if host.strict:
                raise error from exc
            log.error("%s; its payment providers are left out", error)
    return providers


def _call_with(function: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    try:
        accepted = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function(**kwargs)
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return function(**kwargs)
    return function(**{k: v for k, v in kwargs.items() if k in accepted})


def office_provider() -> PaymentProvider:
    """Pay at the office: the clerk records the payment with the receipt number and prints
    the payment receipt (app.workspace)."""
    return PaymentProvider(
        key=OFFICE,
        label={"hy": "Վճարում գրասենյակում", "en": "Pay at the office", "ru": "Оплата в офисе"},
        online=False,
        description={
            "hy": "Կարող եք վճարել նաև համայնքի գրասենյակում. աշխատակիցը գրանցում է վճարումը և տալիս անդորրագիր։",
            "en": "You can also pay at the municipality's office: the clerk records the payment and gives you a receipt.",
            "ru": "Можно оплатить и в офисе общины: сотрудник регистрирует оплату и выдаёт квитанцию.",
        },
    )


# -- the test gateway ------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Test-Gateway-Signature"
_GATEWAY_INFO = b"hamaynk/test-payment-gateway/v1"
# Fields a test gateway callback carries, all signed.
CALLBACK_FIELDS = ("reference", "external_id", "outcome", "amount", "currency", "receipt_number", "nonce", "timestamp")


def test_gateway_key(secret_key: str | bytes) -> bytes:
    """The test gateway's HMAC key, derived from the app's ``SECRET_KEY`` (HKDF-SHA256)."""
    if isinstance(secret_key, str):
        secret_key = secret_key.encode("utf-8")
    if not secret_key:
        raise ValueError("the test payment gateway needs the app's SECRET_KEY")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_GATEWAY_INFO).derive(secret_key)


class TestGateway:
    """A pretend online gateway, served by this app (``/pay/test/gateway/<reference>``), that
    behaves like a real one: the payer is redirected to it, and it reports the outcome with
    a server-to-server callback signed with HMAC-SHA256 over the sorted fields, carrying a
    nonce and a timestamp (callbacks older than ``window`` seconds are refused). No money
    moves. ``gateway_url(reference)`` is where its page is."""

    __test__ = False  # not a pytest test class, whatever its name

    key = TEST

    def __init__(
        self,
        secret: bytes,
        *,
        gateway_url: Callable[[str], str] | None = None,
        window: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the test gateway's key must be at least 16 bytes")
        self._secret = secret
        self._gateway_url = gateway_url or (lambda reference: f"/pay/test/gateway/{reference}")
        self.window = window
        self.clock = clock

    def provider(self) -> PaymentProvider:
        return PaymentProvider(
            key=TEST,
            label={"hy": "Թեստային քարտ", "en": "Test card", "ru": "Тестовая карта"},
            online=True,
            start=self.start,
            verify_callback=self.verify_callback,
            notice={
                "hy": "Թեստային վճարումներ. գումար չի փոխանցվում։",
                "en": "Test payments — no money moves.",
                "ru": "Тестовые платежи — деньги не списываются.",
            },
        )

    def start(self, payment: PaymentView, return_url: str) -> Redirect:
        return Redirect(self._gateway_url(payment.reference), external_id=None)

    @staticmethod
    def canonical(fields: Mapping[str, Any]) -> bytes:
        return "&".join(f"{name}={fields.get(name, '')}" for name in CALLBACK_FIELDS).encode("utf-8")

    def sign(self, fields: Mapping[str, Any]) -> str:
        return hmac.new(self._secret, self.canonical(fields), hashlib.sha256).hexdigest()

    def callback(
        self,
        *,
        reference: str,
        amount: int,
        currency: str = CURRENCY,
        outcome: Outcome = "paid",
        external_id: str | None = None,
        receipt_number: str | None = None,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The form fields and headers of the callback the gateway sends for ``reference``."""
        fields = {
            "reference": reference,
            "external_id": external_id or f"TG-{secrets.token_hex(8).upper()}",
            "outcome": outcome,
            "amount": str(amount),
            "currency": currency,
            "receipt_number": receipt_number
            if receipt_number is not None
            else (f"T{secrets.randbelow(10**9):09d}" if outcome == "paid" else ""),
            "nonce": nonce or secrets.token_hex(16),
            "timestamp": str(int(self.clock()) if timestamp is None else timestamp),
        }
        return fields, {SIGNATURE_HEADER: self.sign(fields)}

    def verify_callback(self, form: Mapping[str, str], headers: Mapping[str, str]) -> CallbackResult:
        signature = headers.get(SIGNATURE_HEADER) or ""
        fields = {name: str(form.get(name, "")) for name in CALLBACK_FIELDS}
        if not hmac.compare_digest(signature.encode("utf-8", "replace"), self.sign(fields).encode("ascii")):
            raise CallbackRefused("bad signature", status=403)
        try:
            sent_at = int(fields["timestamp"])
            amount = int(fields["amount"])
        except ValueError:
            raise CallbackRefused("timestamp and amount must be whole numbers") from None
        if abs(self.clock() - sent_at) > self.window:
            raise CallbackRefused("the callback is outside its time window (a replay?)")
        if not fields["nonce"] or not fields["external_id"] or not fields["reference"]:
            raise CallbackRefused("reference, external_id and nonce are required")
        if fields["outcome"] not in OUTCOMES:
            raise CallbackRefused(f"unknown outcome {fields['outcome']!r}")
        outcome: Outcome = fields["outcome"]  # checked on the line above
        return CallbackResult(
            reference=fields["reference"],
            external_id=fields["external_id"],
            outcome=outcome,
            amount=amount,
            currency=fields["currency"],
            receipt_number=fields["receipt_number"] or None,
            nonce=fields["nonce"],
        )


# -- starting a payment ----------------------------------------------------------------------------


def new_reference() -> str:
    """Our reference for a payment: unguessable (the gateway page and return page go by it)."""
    return "HP" + secrets.token_hex(12).upper()


def _require_online(provider: PaymentProvider) -> None:
    if not provider.online or provider.start is None:
        raise PaymentRefused(_l("This way of paying is not online: pay at the office."))
    if CURRENCY not in provider.currencies:
        raise PaymentRefused(_l("This payment service does not take payments in dram."))


def _cancel_started(payments: Iterable[Payment]) -> None:
    # An earlier attempt the payer left is superseded; a late "paid" callback for it is
    # still accepted (the money moved), see settle().
    for payment in payments:
        if payment.status == STARTED:
            payment.status = CANCELLED
            payment.details = {**(payment.details or {}), "superseded": True}


def start_for_draft(
    session: Session,
    *,
    actor: Actor,
    draft: PortalDraft,
    provider: PaymentProvider,
    fee: FeeQuote,
    description: str = "",
    language: str = "hy",
) -> Payment:
    """A started payment of ``draft``'s fee (``fee``: its quote) through ``provider``. The
    caller loaded the draft as the citizen's own, then calls :func:`redirect_for`."""
    _require_online(provider)
    if draft.user_id != actor.user_id:
        raise NotAllowed()
    if fee.free:
        raise PaymentRefused(_l("This service is free of charge: there is nothing to pay."))
    existing = payments_of_draft(session, draft)
    state = _state(existing, fee.total)
    if state.settled:
        raise PaymentRefused(_l("The fee is already paid."))
    _cancel_started(existing)
    payment = Payment(
        municipality_id=draft.municipality_id,
        draft_id=draft.id,
        user_id=actor.user_id,
        provider=provider.key,
        reference=new_reference(),
        amount=fee.total - state.amount_paid,
        currency=CURRENCY,
        items=fee.items_json(),
        status=STARTED,
        details={"description": description, "language": language},
    )
    session.add(payment)
    session.flush()
    return payment


def start_for_application(
    session: Session,
    *,
    actor: Actor,
    application: Application,
    provider: PaymentProvider,
    service: Service | None,
    description: str = "",
    language: str = "hy",
) -> Payment:
    """A started payment of what is still due on ``application`` (the applicant's own,
    loaded through access) through ``provider``."""
    _require_online(provider)
    if not access.is_applicant(actor, application):
        raise NotAllowed()
    existing = payments_of_application(session, application)
    state = _state(existing, application.fee)
    if application.payment_status != DUE or state.settled or application.fee <= 0:
        raise PaymentRefused(NOTHING_DUE)
    _cancel_started(existing)
    payment = Payment(
        municipality_id=application.municipality_id,
        application_id=application.id,
        user_id=actor.user_id,
        provider=provider.key,
        reference=new_reference(),
        amount=application.fee - state.amount_paid,
        currency=CURRENCY,
        items=[item.to_dict() for item in application_items(application, service)],
        status=STARTED,
        details={"description": description, "language": language},
    )
    session.add(payment)
    session.flush()
    return payment


def view_of(payment: Payment) -> PaymentView:
    details = payment.details or {}
    return PaymentView(
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        items=tuple(MappingProxyType(dict(item)) for item in payment.items or ()),
        description=str(details.get("description") or ""),
        language=str(details.get("language") or "hy"),
        municipality_id=payment.municipality_id,
    )


def redirect_for(payment: Payment, provider: PaymentProvider, *, return_url: str, callback_url: str) -> str:
    """Ask ``provider`` where to send the payer for ``payment``; keeps the gateway's id
    when it hands one out now. Raises :class:`PaymentRefused` when the provider fails."""
    assert provider.start is not None  # _require_online
    try:
        answer = _call_with(
            provider.start, {"payment": view_of(payment), "return_url": return_url, "callback_url": callback_url}
        )
    except Exception:
        log.exception("payment provider %r failed to start payment %s", provider.key, payment.reference)
        payment.status = FAILED
        raise PaymentRefused(
            _l("The payment service is not answering; try again later or pay at the office.")
        ) from None
    if isinstance(answer, Redirect):
        if answer.external_id:
            payment.external_id = answer.external_id
        url = answer.url
    else:
        url = str(answer)
    if not url.startswith(("https://", "http://", "/")) or url.startswith("//"):
        payment.status = FAILED
        log.error("payment provider %r answered a URL that is not one: %r", provider.key, url)
        raise PaymentRefused(_l("The payment service is not answering; try again later or pay at the office."))
    payment.details = {**(payment.details or {}), "return_url": return_url}
    return url


# -- callbacks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` did: ``changed`` is False when the callback repeated one already
    applied (the answer is the same)."""

    payment: Payment
    changed: bool


def find_by_reference(session: Session, provider_key: str, reference: str) -> Payment | None:
    """The payment ``reference`` of ``provider_key``. A gateway's callback and the payer's
    return carry no signed-in municipality actor: the reference itself (random, 24 hex
    digits) and the provider's signature are what identify it."""
    if not isinstance(reference, str) or not re.fullmatch(r"[A-Z0-9]{6,64}", reference):
        return None
    stmt = access.unscoped(
        select(Payment).where(Payment.reference == reference, Payment.provider == provider_key),
        reason="a payment gateway's callback and the payer's return name the payment by its random reference",
    )
    return session.execute(stmt).scalar_one_or_none()


def _application_of(session: Session, payment: Payment) -> Application | None:
    if payment.application_id is None:
        return None
    stmt = access.unscoped(
        select(Application).where(
            Application.id == payment.application_id, Application.municipality_id == payment.municipality_id
        ),
        reason="the application a verified payment callback settles",
    )
    return session.execute(stmt).scalar_one_or_none()


def _refuse(session: Session, payment: Payment | None, message: str, status: int = 400) -> CallbackRefused:
    log.warning("payment callback refused: %s (payment %s)", message, payment.reference if payment else None)
    if payment is not None:
        audit.record(
            session,
            AUDIT_REFUSED,
            actor=None,
            target=("payment", payment.id),
            municipality_id=payment.municipality_id,
            details={"reason": message},
        )
    return CallbackRefused(message, status=status)


def settle(session: Session, provider: PaymentProvider, result: CallbackResult) -> Settled:
    """Apply a verified callback of ``provider`` to its payment. Refuses (raises
    :class:`CallbackRefused`, having written only an audit event of the refusal — commit it)
    an unknown reference, another currency or amount, and a different settlement of a
    payment already settled; the same callback again (same nonce, or the same paid
    external id) changes nothing. A payment that becomes paid makes its application's
    ``payment_status`` ``paid`` once its fee is covered."""
    payment = find_by_reference(session, provider.key, result.reference)
    if payment is None:
        raise _refuse(session, None, f"unknown payment reference {result.reference!r}", status=404)
    details = dict(payment.details or {})
    nonces = list(details.get("nonces") or [])
    if result.nonce and result.nonce in nonces:
        return Settled(payment, changed=False)
    if result.currency != payment.currency:
        raise _refuse(session, payment, f"currency {result.currency!r} is not the payment's {payment.currency!r}")
    if result.amount != payment.amount:
        raise _refuse(session, payment, f"amount {result.amount} is not the payment's {payment.amount}")
    if payment.status in SETTLED:
        if payment.status == PAID and result.outcome == PAID and result.external_id == payment.external_id:
            return Settled(payment, changed=False)
        raise _refuse(session, payment, f"payment is already {payment.status}; a different callback", status=409)
    if payment.external_id and payment.external_id != result.external_id:
        raise _refuse(
            session, payment, f"external id {result.external_id!r} is not the payment's {payment.external_id!r}", 409
        )
    clash = session.execute(
        access.unscoped(
            select(Payment.id).where(
                Payment.provider == provider.key, Payment.external_id == result.external_id, Payment.id != payment.id
            ),
            reason="a gateway's id is unique per provider across municipalities",
        )
    ).first()
    if clash is not None:
        raise _refuse(session, payment, f"external id {result.external_id!r} already settled another payment", 409)
    if result.receipt_number is not None and not valid_receipt_number(result.receipt_number):
        raise _refuse(session, payment, f"receipt number {result.receipt_number!r} is not one")
    if result.nonce:
        details["nonces"] = [*nonces, result.nonce][-KEEP_NONCES:]
    details.setdefault("callbacks", [])
    details["callbacks"] = [
        *details["callbacks"],
        {"outcome": result.outcome, "external_id": result.external_id, "at": utcnow().isoformat(timespec="seconds")},
    ][-KEEP_NONCES:]
    if payment.status == result.outcome:
        payment.details = details
        return Settled(payment, changed=False)
    payment.external_id = result.external_id
    payment.details = details
    if result.outcome == PAID:
        payment.status = PAID
        payment.paid_at = utcnow()
        payment.receipt_number = result.receipt_number or payment.reference
        application = _application_of(session, payment)
        if application is not None and application.fee > 0:
            session.flush()
            application.payment_status = status_for(application, application_payment_state(session, application))
    elif payment.status == STARTED:
        payment.status = result.outcome
    else:
        # failed ↔ cancelled: keep the first word on it.
        pass
    session.flush()
    return Settled(payment, changed=True)


def cancel(session: Session, payment: Payment) -> bool:
    """The payer gave up at the gateway: a started payment becomes cancelled."""
    if payment.status != STARTED:
        return False
    payment.status = CANCELLED
    session.flush()
    return True


# -- staff: at the office --------------------------------------------------------------------------


def valid_receipt_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    value = value.strip()
    if not 1 <= len(value) <= MAX_RECEIPT or not RECEIPT_RE.match(value):
        return False
    digits = [c for c in value if c.isdigit()]
    return bool(digits) and any(c != "0" for c in digits)


def may_record(actor: Actor | None, application: Application) -> bool:
    return access.same_municipality(actor, application) and actor.active and actor.has(*RECORDING_ROLES)


def may_waive(actor: Actor | None, application: Application) -> bool:
    return access.same_municipality(actor, application) and actor.active and actor.has(*WAIVING_ROLES)


def _require_due(session: Session, application: Application) -> PaymentState:
    state = application_payment_state(session, application)
    if application.fee <= 0 or application.payment_status != DUE or state.settled:
        raise PaymentRefused(NOTHING_DUE)
    return state


def record_at_office(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    receipt_number: Any,
    service: Service | None = None,
    ip: str | None = None,
) -> Payment:
    """A clerk records that the applicant paid what is due at the office, with the receipt
    number of the office's cash register: a paid ``office`` payment, and the application's
    payment status ``paid``. The caller commits."""
    if not may_record(actor, application):
        raise PaymentRefused(MAY_NOT_RECORD)
    state = _require_due(session, application)
    number = receipt_number.strip() if isinstance(receipt_number, str) else receipt_number
    if not valid_receipt_number(number):
        raise PaymentRefused(RECEIPT_WRONG, field="receipt_number")
    taken = session.execute(
        access.within(select(Payment.id), Payment, application.municipality_id).where(
            Payment.provider == OFFICE, Payment.receipt_number == number
        )
    ).first()
    if taken is not None:
        raise PaymentRefused(RECEIPT_TAKEN, field="receipt_number")
    now = utcnow()
    payment = Payment(
        municipality_id=application.municipality_id,
        application_id=application.id,
        user_id=application.applicant_user_id,
        provider=OFFICE,
        reference=new_reference(),
        amount=application.fee - state.amount_paid,
        currency=CURRENCY,
        items=[item.to_dict() for item in application_items(application, service)],
        status=PAID,
        receipt_number=number,
        paid_at=now,
        recorded_by_id=actor.user_id,
        details={},
    )
    session.add(payment)
    application.payment_status = PAID
    session.flush()
    audit.record(
        session,
        AUDIT_RECORDED,
        actor=actor,
        target=("application", application.id),
        municipality_id=application.municipality_id,
        details={"payment": payment.reference, "receipt_number": number, "amount": payment.amount},
        ip=ip,
    )
    return payment


def waive(session: Session, application: Application, *, actor: Actor, reason: Any, ip: str | None = None) -> Payment:
    """A municipal administrator or head waives what is due, giving the reason: a ``waived``
    payment row and the application's payment status ``waived``. The caller commits."""
    if not may_waive(actor, application):
        raise PaymentRefused(MAY_NOT_WAIVE)
    state = _require_due(session, application)
    text_ = reason.strip() if isinstance(reason, str) else ""
    if not text_:
        raise PaymentRefused(REASON_MISSING, field="reason")
    if len(text_) > MAX_REASON:
        raise PaymentRefused(REASON_TOO_LONG, field="reason")
    payment = Payment(
        municipality_id=application.municipality_id,
        application_id=application.id,
        user_id=application.applicant_user_id,
        provider=OFFICE,
        reference=new_reference(),
        amount=application.fee - state.amount_paid,
        currency=CURRENCY,
        items=[],
        status=WAIVED,
        paid_at=utcnow(),
        recorded_by_id=actor.user_id,
        details={"reason": text_},
    )
    session.add(payment)
    application.payment_status = WAIVED
    session.flush()
    audit.record(
        session,
        AUDIT_WAIVED,
        actor=actor,
        target=("application", application.id),
        municipality_id=application.municipality_id,
        details={"payment": payment.reference, "reason": text_, "amount": payment.amount},
        ip=ip,
    )
    return payment


def get_payment(session: Session, application: Application, payment_id: int) -> Payment:
    """Payment ``payment_id`` of ``application`` (loaded through access); NotFound otherwise."""
    if not isinstance(payment_id, int) or isinstance(payment_id, bool) or not 0 < payment_id <= access.MAX_PK:
        raise access.NotFound(payment_id)
    stmt = access.within(select(Payment), Payment, application.municipality_id).where(
        Payment.id == payment_id, Payment.application_id == application.id
    )
    payment = session.execute(stmt).scalar_one_or_none()
    if payment is None:
        raise access.NotFound(payment_id)
    return payment


def show_receipt(
    session: Session, actor: Actor, application: Application, payment_id: int, *, ip: str | None = None
) -> Payment:
    """The settled payment ``payment_id`` of ``application`` for its receipt, the viewing
    audit-logged and committed (the receipt names the payer). NotFound for any other."""
    payment = get_payment(session, application, payment_id)
    if payment.status not in SETTLED:
        raise access.NotFound(payment_id)
    audit.record(
        session,
        AUDIT_RECEIPT_VIEWED,
        actor=actor,
        target=("payment", payment.id),
        municipality_id=application.municipality_id,
        details={"tracking_number": application.tracking_number},
        ip=ip,
    )
    session.commit()
    return payment


__all__ = [
    "APPLICATION_STATES",
    "AUDIT_RECEIPT_VIEWED",
    "CANCELLED",
    "CURRENCY",
    "DUE",
    "FAILED",
    "MUNICIPAL_FEE",
    "OFFICE",
    "PAID",
    "PAYMENTS",
    "PAYMENT_STATES",
    "PROVIDERS_EXTENSION",
    "SERVICE_FEE",
    "SETTLED",
    "STARTED",
    "TEST",
    "WAITING_FOR_PAYMENT",
    "WAIVED",
    "CallbackRefused",
    "CallbackResult",
    "DuplicatePaymentProvider",
    "FeeQuote",
    "PaymentProvider",
    "PaymentProviderError",
    "PaymentRefused",
    "PaymentState",
    "PaymentView",
    "Providers",
    "QuoteItem",
    "Redirect",
    "Settled",
    "TestGateway",
    "application_payment_state",
    "attach_to_application",
    "cancel",
    "collect_providers",
    "declared_items",
    "draft_payment_state",
    "find_by_reference",
    "office_provider",
    "payments_of_application",
    "payments_of_draft",
    "quote",
    "record_at_office",
    "redirect_for",
    "settle",
    "show_receipt",
    "start_for_application",
    "start_for_draft",
    "status_for",
    "test_gateway_key",
    "valid_receipt_number",
    "waiting_for_payment",
    "waive",
]
