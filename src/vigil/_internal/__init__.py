"""Private helpers shared by the server-side packages (STYLE.md §2: "shared private
helpers live in ``_internal/``").

:mod:`vigil._internal.http`: the HTTP :class:`~vigil._internal.http.Fetcher`
that the monitor (``vigil audit``) and the auditing witness use to read a
log's tiles. Sits between :mod:`vigil.core` and the servers in the import
layers (pyproject ``[tool.importlinter]``): it may import only the core and
:mod:`vigil.errors`. Not a public API.
"""
