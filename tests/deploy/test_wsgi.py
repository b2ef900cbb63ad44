"""The production entry points without starting anything (docs/deploy.md): app.wsgi's trust of
the reverse proxy's forwarded address, and the settings app.gunicorn_conf gives gunicorn."""

from __future__ import annotations

import importlib
import sys

import pytest
from flask import request
from werkzeug.test import Client

from app.wsgi import behind_proxies


@pytest.fixture
def probe(app):
    """The app with a page that says which client address and scheme it saw."""
    app.add_url_rule("/_probe", "probe", lambda: f"{request.remote_addr} {request.scheme}")
    return app


def seen(wsgi_app, forwarded: str | None = None, proto: str | None = None) -> str:
    headers = {}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    response = Client(wsgi_app).get("/_probe", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_without_trusted_proxies_the_forwarded_headers_are_ignored(probe):
    probe.config["HAMAYNK_TRUSTED_PROXIES"] = 0
    wrapped = behind_proxies(probe)
    assert wrapped is probe
    assert seen(wrapped, "203.0.113.7", "https") == "127.0.0.1 http"


def test_one_trusted_proxy_gives_the_address_it_added_and_ignores_what_the_client_wrote(probe):
    probe.config["HAMAYNK_TRUSTED_PROXIES"] = 1
    wrapped = behind_proxies(probe)
    assert seen(wrapped, "203.0.113.7", "https") == "203.0.113.7 https"
    # A client that sends its own X-Forwarded-For gets the proxy's entry appended after it.
    assert seen(wrapped, "198.51.100.1, 203.0.113.7") == "203.0.113.7 http"


def test_two_trusted_proxies_take_the_entry_the_outer_one_added(probe):
    probe.config["HAMAYNK_TRUSTED_PROXIES"] = 2
    assert seen(behind_proxies(probe), "198.51.100.1, 203.0.113.7, 10.0.0.2") == "203.0.113.7 http"


def test_importing_the_entry_point_builds_no_app():
    import app.wsgi as wsgi

    assert "app" not in vars(wsgi) and "application" not in vars(wsgi)
    with pytest.raises(AttributeError):
        _ = wsgi.something_else


def load_config(monkeypatch, **env: str):
    for name in ("HAMAYNK_HOST", "HAMAYNK_PORT", "HAMAYNK_WEB_WORKERS", "HAMAYNK_WEB_THREADS", "HAMAYNK_WEB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("app.gunicorn_conf", None)
    return importlib.import_module("app.gunicorn_conf")


def test_gunicorn_settings_default_to_loopback_sync_workers_not_preloaded(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    conf = load_config(monkeypatch)
    assert conf.wsgi_app == "app.wsgi:application"
    assert conf.bind == "127.0.0.1:8000"
    assert conf.workers == 5  # 2 × cores + 1
    assert conf.threads == 1
    assert conf.timeout == 60
    assert conf.preload_app is False
    assert conf.accesslog == "-"


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    conf = load_config(
        monkeypatch,
        HAMAYNK_HOST="10.0.0.5",
        HAMAYNK_PORT="9000",
        HAMAYNK_WEB_WORKERS="3",
        HAMAYNK_WEB_THREADS="4",
        HAMAYNK_WEB_TIMEOUT="120",
    )
    assert (conf.bind, conf.workers, conf.threads, conf.timeout) == ("10.0.0.5:9000", 3, 4, 120)


def test_post_fork_drops_an_inherited_pool_only_when_the_app_was_preloaded(app, monkeypatch):
    import app.wsgi as wsgi
    from app.extensions import db

    conf = load_config(monkeypatch)
    monkeypatch.setattr(conf, "_app_logging", lambda: None)
    disposed: list[bool] = []
    with app.app_context():
        monkeypatch.setattr(db.engine, "dispose", lambda close=True: disposed.append(close))
    monkeypatch.setattr(wsgi, "_built", {})
    conf.post_fork(None, None)
    assert disposed == []
    monkeypatch.setattr(wsgi, "_built", {"app": app, "application": app})
    conf.post_fork(None, None)
    # close=False: the connections belong to the parent, which still uses them.
    assert disposed == [False]


def test_each_worker_logs_the_apps_errors_with_time_and_level(monkeypatch, capsys):
    import logging

    conf = load_config(monkeypatch)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.NOTSET)
    conf._app_logging()
    conf._app_logging()  # a second call adds nothing
    assert len(root.handlers) == 1 and root.level == logging.WARNING
    logging.getLogger("app.web").error("an unscoped query")
    logging.getLogger("app.web").info("not shown")
    err = capsys.readouterr().err
    assert "[ERROR] app.web: an unscoped query" in err
    assert "not shown" not in err
