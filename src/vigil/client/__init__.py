"""The client: ``vigil verify`` and what package-manager plugins call.

* :mod:`vigil.client.checks` -- the seven checks over a verification bundle,
  pure (no I/O, no clock): everything that decides trust is here.
* :mod:`vigil.client.state` -- what this machine remembers (last verified
  checkpoint, accepted versions, the charter it trusts, evidence), written
  atomically under a lock.
* :mod:`vigil.client.config` -- ``/etc/vigil/config.toml`` and the per-user
  override.
* :mod:`vigil.client.fetch` -- one HTTP request per repository for its bundle.
* :mod:`vigil.client.run` -- ties them together; a plugin is a thin adapter
  over :func:`vigil.client.run.verify_repository`.
"""
