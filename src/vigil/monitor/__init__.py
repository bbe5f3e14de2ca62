"""Monitors and auditors: replay a log from its tiles and check what it signed.

Example::

    from vigil.monitor.audit import audit_log
    from vigil.monitor.fetch import HttpFetcher

    with HttpFetcher("https://log.example.org") as fetcher:
        report = audit_log(fetcher, origin="log.example.org", log_key=verifier)
    if report.lie is not None:
        print(report.lie.describe())
"""
