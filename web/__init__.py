"""The HTTP edge of Civic Ledger: the Flask app factory, its blueprints and schemas.

Importing this package configures nothing; call :func:`create_app`.
"""

from web.app import create_app

__all__ = ["create_app"]
