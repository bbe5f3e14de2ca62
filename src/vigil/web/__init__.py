"""ASGI front ends: the log server (:mod:`vigil.web.log_app`).

Handlers cap the body, parse, call one service method and render; the one
mapping from exception class to HTTP status is :mod:`vigil.web.errors`.
"""
