"""Citizen portal audience: the public catalogue, citizen accounts, online applications,
"My applications", questions to the specialist, payments and notices.

Own templates (app/templates/portal), own look (app/static/portal.css), no Flask-AppBuilder
admin screens: pages a citizen reads on a phone. Like every audience it is thin: each view
hands the request to a domain function and renders what comes back.

One blueprint per area, each in its own module:

=============  ==============  =================================================
module         blueprint       what
=============  ==============  =================================================
``site``       ``site``        public home, municipalities' catalogues, service pages
``account``    ``account``     registration, verification, sign-in/out, reset, profile
``apply``      ``apply``       drafts and the step-by-step online application
``mine``       ``mine``        "My applications", corrections, withdrawal, look-up, claim
``questions``  ``questions``   questions to the specialist (citizen side)
``pay``        ``pay``         fees and payment providers
``notices``    ``notices``     in-app notices (the bell), unsubscribe
``verify``     ``verify``      public verification of issued documents by their code
``documents``  ``documents``   the citizen's download of their issued document
``dashboard``  ``dashboard``   public transparency dashboard and its open data
``proposals``  ``proposals``   residents' proposals: list, page, submit, support, withdraw
``polls``      ``polls``       polls and budget votes: page, ballot, receipt, change, results
=============  ==============  =================================================

``consultations`` (blueprint ``consultations``): consultations on draft decisions, the draft,
its threaded comments and supports, and the summary.
"""

from __future__ import annotations

from flask import Flask

from app.extensions import limiter


def init_app(app: Flask) -> None:
    from app.portal import account, apply, common, dashboard, documents, mine, notices, pay, questions, site, verify

    limiter.init_app(app)
    common.init_app(app)
    for module in (site, account, apply, mine, questions, pay, notices, verify, documents, dashboard):
        app.register_blueprint(module.bp)
    # Citizens' proposals (participatory budgeting).
    from app.portal import proposals

    app.register_blueprint(proposals.bp)
    # Consultations on draft decisions.
    from app.portal import consultations

    app.register_blueprint(consultations.bp)
    # Polls and budget votes: public pages, the ballot, receipts, results and open data.
    from app.portal import polls

    app.register_blueprint(polls.bp)
