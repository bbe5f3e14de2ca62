"""Vigil: a transparency system for software repositories.

Publishers log repository states, rebuilders log that they reproduced them,
a security team logs warnings, and a foundation's threshold-signed charter
assigns those roles; witnesses cosign the log so that ``vigil verify`` can prove
a repository state is current, authorized, reproduced and not warned about.
"""

__version__ = "0.1.0"
