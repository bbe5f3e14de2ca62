"""Role workflows: charters, releases, rebuild attestations and advisories.

What a foundation member, a publisher, a rebuilder or a security team member
runs: build a statement from a repository directory or a charter file, add
one holder's signature at a time to an envelope passed around as a file,
describe what a charter says and what changed in plain words, and submit.

Example::

    from vigil.roles.charter import describe_changes
    from vigil.core.charter import parse_charter

    for line in describe_changes(parse_charter(old), parse_charter(new)):
        print(line)
"""
