"""The staff REST API (JWT): applications, their actions and documents, service schemas;
and the public statistics endpoint (app.api.statistics, no token).

Flask-AppBuilder provides the token endpoint (POST /api/v1/security/login) and, with
FAB_API_SWAGGER_UI on, the OpenAPI spec at /api/v1/_openapi that includes these endpoints.
"""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder

from app.api.statistics import StatisticsApi
from app.api.views import ApplicationsApi


def init_app(app: Flask, appbuilder: AppBuilder) -> None:
    appbuilder.add_api(ApplicationsApi)
    # Public, like the transparency dashboard: GET /api/v1/data/statistics (no token).
    appbuilder.add_api(StatisticsApi)
