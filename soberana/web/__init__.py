"""The HTTP application. :func:`soberana.web.app.create_app` is the only composition root."""
