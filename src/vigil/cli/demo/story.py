"""The demo's story: a whole federation on one machine, told step by step.

Every party does what it would do for real, with the real command line as
subprocesses (:class:`vigil.cli.demo.federation.Commands`) and real servers
on loopback (:class:`vigil.cli.demo.federation.Servers`):

1. a foundation of three keys writes charter version 1 and two members sign it;
2. a log and three witnesses start; the log's checkpoints carry a 2-of-3 quorum;
3. a publisher builds an RPM and a Debian package reproducibly
   (:mod:`vigil.cli.demo.packages`), makes an rpm-md and a Debian repository
   and logs a release of each;
4. two rebuilders rebuild both packages from the same source and log what they got;
5. a user verifies both repositories (``vigil verify``);
6. three attacks, each of which the user's ``vigil verify`` must reject:
   metadata edited after publication, a replayed older repository state,
   and a release the security team blocked.

:class:`Narrator` prints it and counts every step that did not go as
expected; :meth:`DemoStory.run` returns the number of such steps.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from vigil.cli.demo.federation import CommandError, Commands, Servers, free_ports
from vigil.cli.demo.packages import (
    PackageSource,
    build_deb,
    build_rpm,
    make_deb_repository,
    make_rpm_repository,
    sha256_file,
    write_source,
)
from vigil.core.charter import Charter
from vigil.core.policy import verify_policy_checkpoint
from vigil.errors import VigilError
from vigil.log.config import format_config, parse_config

__all__ = ["DemoStory", "Narrator", "hello_source"]

ORIGIN = "log.demo.vigil.example"
FOUNDATION = ("alice", "bob", "carol")
WITNESSES = ("w1", "w2", "w3")
REBUILDERS = ("rebuilder-1", "rebuilder-2")
RPM_REPO, DEB_REPO = "demo-rpm", "demo-deb"
FRESHNESS_S = 300
_CHECKPOINT_WAIT_S = 20.0


def hello_source(version: str, greeting: str = "Hello from Vigil") -> PackageSource:
    """The demo's package: a shell script and its documentation."""
    script = f'#!/bin/sh\necho "{greeting} (hello-vigil {version})"\n'
    return PackageSource(
        name="hello-vigil",
        version=version,
        summary="Says hello (Vigil demo package)",
        files={
            "usr/bin/hello-vigil": script.encode(),
            "usr/share/doc/hello-vigil/README": b"A package built for the Vigil demo.\n",
        },
        executables=frozenset({"usr/bin/hello-vigil"}),
    )


class Narrator:
    """Prints the story and counts what did not go as expected."""

    def __init__(self, console: Console, *, show_commands: bool) -> None:
        self.console = console
        self.show_commands = show_commands
        self.failures: list[str] = []
        self._step = 0

    def title(self, text: str) -> None:
        """The banner line."""
        self.console.print(f"[bold cyan]{escape(text)}[/bold cyan]")

    def step(self, title: str, why: str = "") -> None:
        """Start the next numbered step."""
        self._step += 1
        self.console.print(f"\n[bold]{self._step}. {escape(title)}[/bold]")
        if why:
            self.console.print(f"   [dim]{escape(why)}[/dim]")

    def substep(self, label: str, title: str, why: str = "") -> None:
        """A lettered part of the current step (``6a.``)."""
        self.console.print(f"\n[bold]{self._step}{label}. {escape(title)}[/bold]")
        if why:
            self.console.print(f"    [dim]{escape(why)}[/dim]")

    def command(self, line: str) -> None:
        """A command a party ran (only with --commands)."""
        if self.show_commands:
            self.console.print(f"   [dim]$ {escape(line)}[/dim]", overflow="ellipsis",
                               no_wrap=True)

    def ok(self, text: str) -> None:
        """Something that went as expected."""
        self.console.print(f"   [green]✓[/green] {escape(text)}")

    def detail(self, text: str) -> None:
        """An indented, quieter line."""
        self.console.print(f"       [dim]{escape(text)}[/dim]")

    def attack(self, text: str) -> None:
        """An attacker's move."""
        self.console.print(f"   [bold yellow]⚠ attack:[/bold yellow] [yellow]{escape(text)}"
                           "[/yellow]")

    def caught(self, text: str) -> None:
        """An attack the user's client refused."""
        self.console.print(f"   [bold red]✗ rejected[/bold red] [red]{escape(text)}[/red]")

    def fail(self, text: str) -> None:
        """Something that did not go as expected."""
        self.failures.append(text)
        self.console.print(f"   [bold red]✗ NOT AS EXPECTED:[/bold red] {escape(text)}")


@dataclass
class Verdict:
    """What ``vigil verify --json`` said about one repository.

    Attributes:
        code: The exit code of the command.
        repository: The repository.
        verdict: ``verified``, ``rejected``, ``stale``, ``unavailable`` ...
            (``?`` when the command printed no JSON).
        version: The release version the client matched, if any.
        checks: The ``checks`` objects (name, ok, outcome, detail).
        error: The error, or the end of the output when there was no JSON.
    """

    code: int
    repository: str
    verdict: str
    version: int | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @classmethod
    def parse(cls, code: int, document: Any, repository: str) -> Verdict:
        """From one repository's JSON object."""
        if not isinstance(document, dict):
            return cls(code, repository, "?", error="no JSON answer")
        version = document.get("version")
        return cls(
            code,
            str(document.get("repository", repository)),
            str(document.get("verdict", "?")),
            version if isinstance(version, int) else None,
            [c for c in document.get("checks") or [] if isinstance(c, dict)],
            str(document.get("error") or ""),
        )

    def failed(self) -> str:
        """``name: detail`` of the checks that failed (not those skipped), or the error."""
        failed = [
            f"{c.get('name', '?')}: {c.get('detail', '')}"
            for c in self.checks
            if not c.get("ok", False) and c.get("outcome") != "skip"
        ]
        return "; ".join(failed) or self.error or "(no reason given)"

    def passed(self) -> str:
        """The names of the checks that passed."""
        return ", ".join(str(c.get("name", "?")) for c in self.checks if c.get("ok", False))


@dataclass
class Party:
    """A key holder: key file and verifier key."""

    key_file: str
    vkey: str


@dataclass
class DemoStory:
    """The whole story in ``workdir`` (empty when it starts).

    Attributes:
        workdir: Where every party keeps its files (paths below are relative).
        narrator: Prints the story.
        keep: Whether ``workdir`` stays afterwards (only changes what is said).
        commands: Runs the ``vigil`` commands.
    """

    workdir: Path
    narrator: Narrator
    keep: bool = False
    commands: Commands = field(init=False)
    parties: dict[str, Party] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    log_url: str = ""
    charter: Charter | None = None

    def __post_init__(self) -> None:
        self.commands = Commands(self.workdir, echo=self.narrator.command)

    # -- helpers -------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        """A path in the working directory."""
        return self.workdir / relative

    def vigil(self, *args: str, expect: tuple[int, ...] = (0,)) -> str:
        """Run a command; its stdout and stderr."""
        result = self.commands.run(*args, expect=expect)
        return result.stdout + result.stderr

    def log_args(self) -> list[str]:
        """``--url`` and ``--log-key`` of the demo log."""
        return ["--url", self.log_url, "--log-key", self.parties["log"].vkey]

    # -- the story -----------------------------------------------------------------------

    def run(self) -> int:
        """Tell the whole story; returns the number of steps that went wrong."""
        narrator = self.narrator
        narrator.title("Vigil demo: a transparency federation on this machine")
        narrator.console.print(f"[dim]working directory: {escape(str(self.workdir))}"
                               f"{'' if self.keep else ' (removed at the end; --workdir keeps it)'}"
                               "[/dim]")
        with Servers(self.workdir) as servers:
            try:
                self.foundation()
                self.start_federation(servers)
                self.publish()
                self.rebuild("1.0", 1, [RPM_REPO, DEB_REPO])
                self.user_verifies()
                narrator.step("Three attacks; the user's vigil verify must reject each")
                self.attack_tampered_metadata()
                self.attack_replay()
                self.attack_blocked()
            except (VigilError, OSError, httpx.HTTPError) as exc:
                narrator.fail(f"the story stopped: {exc}")
            except Exception as exc:  # a bug in the demo itself: still stop the servers
                narrator.fail(f"the story stopped: {type(exc).__name__}: {exc}")
            finally:
                pids = [str(s.pid) for s in servers]
                servers.stop_all()
                if pids:
                    narrator.console.print(
                        f"\n[dim]stopped the log and the witnesses (pids {', '.join(pids)})[/dim]"
                    )
        return len(narrator.failures)

    # 1 ---------------------------------------------------------------------------------

    def foundation(self) -> None:
        """Keys, the charter, two of three signatures, verification."""
        narrator = self.narrator
        narrator.step(
            "The foundation writes the charter",
            "Three foundation members, any two of whom must sign; the charter names every "
            "other role.",
        )
        for directory in ("keys", "foundation", "publisher", "security", "user", "mirror"):
            self.path(directory).mkdir()
        names = {
            **{member: f"{member}.foundation.demo" for member in FOUNDATION},
            "log": ORIGIN,
            "security": "security.demo",
            "publisher-rpm": "publisher-rpm.demo",
            "publisher-deb": "publisher-deb.demo",
            **{rb: f"{rb}.demo" for rb in REBUILDERS},
        }
        results = self.commands.run_all(
            [["key", "generate", name, "--out", f"keys/{party}.key"]
             for party, name in names.items()]
        )
        for party, result in zip(names, results, strict=True):
            self.parties[party] = Party(f"keys/{party}.key", result.stdout.strip())
        results = self.commands.run_all(
            [["witness", "init", f"witnesses/{w}", "--name", f"{w}.witness.demo"]
             for w in WITNESSES]
        )
        for witness, result in zip(WITNESSES, results, strict=True):
            vkey = next(line.split(": ", 1)[1] for line in result.stdout.splitlines()
                        if line.startswith("witness key: "))
            self.parties[witness] = Party(f"witnesses/{witness}/witness.key", vkey)
        narrator.ok(f"{len(self.parties)} keys: 3 foundation members, the log, 3 witnesses, "
                    "the security team, 2 publishers, 2 rebuilders")

        ports = free_ports(1 + len(WITNESSES))
        self.ports = {"log": ports[0], **dict(zip(WITNESSES, ports[1:], strict=True))}
        self.log_url = f"http://127.0.0.1:{self.ports['log']}"
        self.vigil("charter", "init", "--name", "vigil-demo",
                   *[arg for m in FOUNDATION for arg in ("--foundation-key", self.parties[m].vkey)],
                   "--threshold", "2", "--out", "foundation/charter.toml")
        with self.path("foundation/charter.toml").open("a", encoding="utf-8") as out:
            out.write(self.charter_sections())
        shown = self.vigil("charter", "show", "foundation/charter.toml")
        narrator.ok("charter v1 written (vigil charter init, then edited); vigil charter "
                    "show says:")
        for line in shown.splitlines():
            if line.startswith(("A checkpoint counts", "Repository", "  ")):
                narrator.detail(line)
        for member in FOUNDATION[:2]:
            signed = self.vigil("charter", "sign", "foundation/charter.toml",
                                "--key", self.parties[member].key_file)
            met = "its own foundation: met" in signed
            narrator.ok(f"{member} signs it (vigil charter sign): "
                        + ("2 of 2 signatures, the threshold is met" if met
                           else "1 of the 2 signatures needed"))
        verified = self.vigil("charter", "verify", "foundation/charter.toml.dsse.json")
        if "current: charter vigil-demo v1" not in verified:
            narrator.fail(f"vigil charter verify said: {verified.strip()}")
            return
        narrator.ok("vigil charter verify: charter vigil-demo v1 is valid")
        from vigil.cli.charter import load_charter

        self.charter = load_charter(self.path("foundation/charter.toml.dsse.json"))
        shutil.copyfile(self.path("foundation/charter.toml.dsse.json"),
                        self.path("user/charter.dsse.json"))
        narrator.detail("the user's machine ships it as user/charter.dsse.json (its trust root)")

    def charter_sections(self) -> str:
        """What the foundation adds to the template: log, witnesses, roles, repositories."""
        p = self.parties
        witnesses = "".join(
            f'\n[[witnesses.witness]]\nname = "{w}"\nkey = "{p[w].vkey}"\n'
            f'url = "http://127.0.0.1:{self.ports[w]}"\nauditing = true\n'
            for w in WITNESSES
        )
        rebuilders = ", ".join(f'"{p[rb].vkey}"' for rb in REBUILDERS)
        repositories = "".join(
            f'\n[[repository]]\nname = "{name}"\nformat = "{repo_format}"\n'
            f'publishers = ["{p[publisher].vkey}"]\npublisher_threshold = 1\n'
            f"rebuilders = [{rebuilders}]\nrebuilds_required = 2\n"
            f'freshness_s = {FRESHNESS_S}\nstale = "reject"\n'
            for name, repo_format, publisher in (
                (RPM_REPO, "rpm-md", "publisher-rpm"), (DEB_REPO, "deb", "publisher-deb")
            )
        )
        return (
            f'\n[[log]]\norigin = "{ORIGIN}"\nkey = "{p["log"].vkey}"\n'
            f'urls = ["{self.log_url}"]\n'
            f'\n[witnesses]\nquorum = "two-of-three"\n{witnesses}'
            f'\n[[witnesses.group]]\nname = "two-of-three"\nthreshold = 2\n'
            f'members = [{", ".join(f"{chr(34)}{w}{chr(34)}" for w in WITNESSES)}]\n'
            f'\n[security]\nthreshold = 1\nkeys = ["{p["security"].vkey}"]\n'
            f"{repositories}"
        )

    # 2 ---------------------------------------------------------------------------------

    def start_federation(self, servers: Servers) -> None:
        """Witnesses and the log as processes; wait for the first cosigned checkpoint."""
        narrator = self.narrator
        narrator.step(
            "The log and three witnesses start on loopback",
            "The log is not trusted: witnesses cosign a checkpoint only if it is consistent "
            "with everything they cosigned before, and after replaying its new entries under "
            "the charter and recomputing its status map (auditing); a checkpoint counts with "
            "2 of 3.",
        )
        log_vkey = self.parties["log"].vkey
        self.commands.run_all(
            [["witness", "add-log", f"witnesses/{w}", "--origin", ORIGIN, "--vkey", log_vkey,
              "--url", self.log_url, "--audit"] for w in WITNESSES]
        )
        self.vigil("log", "init", "log", "--origin", ORIGIN, "--key", self.parties["log"].key_file,
                   "--charter", "foundation/charter.toml.dsse.json")
        policy = f"log {log_vkey} {self.log_url}\n" + "".join(
            f"witness {w} {self.parties[w].vkey} http://127.0.0.1:{self.ports[w]}\n"
            for w in WITNESSES
        ) + f"group two-of-three 2 {' '.join(WITNESSES)}\nquorum two-of-three\n"
        self.path("log/witnesses.policy").write_text(policy, encoding="utf-8")
        config = parse_config(self.path("log/config.toml").read_text(encoding="utf-8"))
        config = replace(config, witnesses=replace(
            config.witnesses, policy_file="witnesses.policy", timeout_s=3.0))
        self.path("log/config.toml").write_text(format_config(config), encoding="utf-8")
        narrator.ok("log created with the charter as entry 0 (vigil log init --charter); "
                    "it asks the charter's witnesses to cosign (log/witnesses.policy)")
        for w in WITNESSES:
            port = self.ports[w]
            # A few entries: auditing in the server process is quicker than
            # starting worker processes for it.
            args = ["witness", "serve", f"witnesses/{w}", "--port", str(port),
                    "--audit-workers", "0"]
            narrator.command("vigil " + " ".join(args))
            server = servers.start(w, args, port, self.path(f"witnesses/{w}/server.log"))
            narrator.ok(f"witness {w} listening on {server.url} (pid {server.pid})")
        args = ["log", "serve", "log", "--port", str(self.ports["log"])]
        narrator.command("vigil " + " ".join(args))
        server = servers.start("log", args, self.ports["log"], self.path("log/server.log"))
        narrator.ok(f"log {ORIGIN} listening on {server.url} (pid {server.pid})")
        size, cosigners = self.cosigned_checkpoint(1)
        narrator.ok(f"first checkpoint: {size} entry (the charter), cosigned by "
                    f"{', '.join(cosigners)}: quorum 2 of 3 met")

    def cosigned_checkpoint(self, at_least: int) -> tuple[int, list[str]]:
        """Wait for a checkpoint of ``at_least`` entries meeting the charter's quorum."""
        assert self.charter is not None
        policy = self.charter.witnesses
        deadline = time.monotonic() + _CHECKPOINT_WAIT_S
        last = ""
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{self.log_url}/checkpoint", timeout=5)
                if response.status_code == 200:
                    verified = verify_policy_checkpoint(policy, response.content, origin=ORIGIN)
                    if verified.checkpoint.size >= at_least:
                        names = sorted(
                            w.name for c in verified.cosignatures
                            if (w := policy.witness_for(c)) is not None
                        )
                        return verified.checkpoint.size, names
                last = f"HTTP {response.status_code}"
            except (httpx.HTTPError, VigilError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise CommandError(f"no cosigned checkpoint of size {at_least} in "
                           f"{_CHECKPOINT_WAIT_S:.0f} s ({last})")

    # 3 ---------------------------------------------------------------------------------

    def publish(self) -> None:
        """Source, two byte-identical builds of each package, two repositories, two releases."""
        narrator = self.narrator
        narrator.step(
            "The publisher builds, publishes and logs",
            "Real rpmbuild and dpkg-deb, reproducibly (SOURCE_DATE_EPOCH, fixed owners, modes "
            "and build host); createrepo_c and apt-ftparchive make the repositories.",
        )
        source = write_source(hello_source("1.0"), self.path("publisher/source/hello-vigil-1.0"))
        rpm_a = build_rpm(source, self.path("publisher/build-a"))
        rpm_b = build_rpm(source, self.path("publisher/build-b"))
        deb_a = build_deb(source, self.path("publisher/build-a"))
        deb_b = build_deb(source, self.path("publisher/build-b"))
        for first, second in ((rpm_a, rpm_b), (deb_a, deb_b)):
            digest = sha256_file(first)
            if digest != sha256_file(second):
                narrator.fail(f"two builds of {first.name} differ")
            else:
                narrator.ok(f"built {first.name} twice: byte-identical (sha256 {digest[:16]}…)")
        repomd = make_rpm_repository(self.path(f"publisher/repos/{RPM_REPO}"), [rpm_a])
        release = make_deb_repository(self.path(f"publisher/repos/{DEB_REPO}"), [deb_a],
                                      label="vigil-demo")
        narrator.ok(f"{RPM_REPO}: createrepo_c wrote repodata/repomd.xml "
                    f"(sha256 {sha256_file(repomd)[:16]}…)")
        narrator.ok(f"{DEB_REPO}: apt-ftparchive wrote Packages and Release "
                    f"(sha256 {sha256_file(release)[:16]}…)")
        for repository, publisher in ((RPM_REPO, "publisher-rpm"), (DEB_REPO, "publisher-deb")):
            index = self.release(repository, 1, publisher)
            narrator.ok(f"release {repository} v1 signed by {publisher} and logged at "
                        f"index {index}")
            shutil.copytree(self.path(f"publisher/repos/{repository}"),
                            self.path(f"mirror/{repository}"))
        narrator.detail("a mirror copies both repositories (mirror/); users download from it")

    def release(self, repository: str, version: int, publisher: str) -> int:
        """``vigil release create/sign/submit``; the log index."""
        name = f"publisher/{repository}-v{version}"
        self.vigil("release", "create", f"publisher/repos/{repository}", "--repository",
                   repository, "--version", str(version), "--artifacts", "--out", f"{name}.json")
        self.vigil("release", "sign", f"{name}.json", "--key", self.parties[publisher].key_file)
        submitted = self.vigil("release", "submit", f"{name}.dsse.json", *self.log_args())
        return _logged_index(submitted)

    # 4 ---------------------------------------------------------------------------------

    def rebuild(self, version_text: str, version: int, repositories: list[str]) -> None:
        """Each rebuilder rebuilds from the published source, attests, logs the attestation."""
        narrator = self.narrator
        if version == 1:
            narrator.step(
                "Two rebuilders rebuild from source and attest",
                "Each builds in its own directory from the published source and logs a signed "
                "attestation: the charter wants both before a user accepts a release.",
            )
        attests: list[list[str]] = []
        for rebuilder in REBUILDERS:
            source = self.path(f"{rebuilder}/source-{version_text}")
            shutil.copytree(self.path(f"publisher/source/hello-vigil-{version_text}"), source)
            for repository in repositories:
                out = self.path(f"{rebuilder}/{repository}-v{version}")
                built = build_rpm(source, out) if repository == RPM_REPO else build_deb(
                    source, out)
                narrator.ok(f"{rebuilder} rebuilt {built.name} (sha256 "
                            f"{sha256_file(built)[:16]}…)")
                attests.append([
                    "attest", f"publisher/{repository}-v{version}.dsse.json",
                    f"{rebuilder}/{repository}-v{version}", "--key",
                    self.parties[rebuilder].key_file, "--builder",
                    f"https://{rebuilder}.demo.invalid/", "--out",
                    f"{rebuilder}/{repository}-v{version}.attestation.json",
                ])
        for args, result in zip(attests, self.commands.run_all(attests), strict=True):
            if "outcome: reproduced" not in result.stderr:
                narrator.fail(f"{args[2]}: {result.stderr.strip()}")
        submits = [
            ["log", "submit", *[a[-1] for a in attests if a[2].startswith(rebuilder)],
             *self.log_args()]
            for rebuilder in REBUILDERS
        ]
        indexes = []
        for result in self.commands.run_all(submits):
            indexes += [json.loads(line)["index"] for line in result.stdout.splitlines() if line]
        narrator.ok(f"{len(attests)} attestations, all \"reproduced\", logged at indexes "
                    f"{', '.join(map(str, sorted(indexes)))}")

    # 5 ---------------------------------------------------------------------------------

    def verify(self, repository: str, metadata: str) -> Verdict:
        """The user's ``vigil verify --json`` of one repository's metadata file."""
        result = self.commands.run(
            "verify", "--repo", repository, "--metadata", metadata, "--charter",
            "user/charter.dsse.json", "--state-dir", "user/state", "--json",
            expect=(0, 1, 2, 3),
        )
        verdict = Verdict.parse(result.returncode, _json(result.stdout), repository)
        if verdict.verdict == "?":
            verdict.error = _last_line(result.stderr or result.stdout)
        return verdict

    def expect_verified(self, verdict: Verdict) -> None:
        """The user's client must have accepted it (exit 0)."""
        if verdict.code == 0 and verdict.verdict == "verified":
            version = f" version {verdict.version}" if verdict.version is not None else ""
            self.narrator.ok(f"{verdict.repository}{version}: verified (exit 0): "
                             f"{verdict.passed()}")
            return
        self.narrator.fail(f"{verdict.repository}: vigil verify exit {verdict.code}, verdict "
                           f"{verdict.verdict!r}: {verdict.failed()}")

    def expect_rejected(self, verdict: Verdict) -> None:
        """The user's client must have refused it (exit 1)."""
        if verdict.code == 1 and verdict.verdict == "rejected":
            self.narrator.caught(f"by vigil verify (exit 1): {verdict.failed()}")
            return
        self.narrator.fail(f"attack NOT caught: vigil verify exit {verdict.code}, verdict "
                           f"{verdict.verdict!r}: {verdict.failed()}")

    def user_verifies(self) -> None:
        """Both repositories, as downloaded from the mirror, with the user's config file."""
        self.narrator.step(
            "A user verifies both repositories",
            "vigil verify checks the metadata in hand against the log: current, authorized, "
            "reproduced, not warned, seen by 2 of 3 witnesses in the last 5 minutes.",
        )
        client = (
            'charter = "charter.dsse.json"\nstate_dir = "state"\n\n'
            f'[[repository]]\nname = "{RPM_REPO}"\n'
            f'metadata = "../mirror/{RPM_REPO}/repodata/repomd.xml"\n\n'
            f'[[repository]]\nname = "{DEB_REPO}"\nmetadata = "../mirror/{DEB_REPO}/Release"\n'
        )
        self.path("user/vigil.toml").write_text(client, encoding="utf-8")
        self.narrator.detail("user/vigil.toml names the trusted charter, the state directory "
                             "and where each repository's metadata is")
        result = self.commands.run("verify", "--all", "--config", "user/vigil.toml", "--json",
                                   expect=(0, 1, 2, 3))
        document = _json(result.stdout)
        answers = document.get("repositories") if isinstance(document, dict) else None
        if not isinstance(answers, list):
            self.narrator.fail(f"vigil verify --all exit {result.returncode}: "
                               f"{_last_line(result.stderr or result.stdout)}")
            return
        verdicts = {}
        for answer in answers:
            verdict = Verdict.parse(result.returncode, answer, "?")
            verdicts[verdict.repository] = verdict
        for repository in (RPM_REPO, DEB_REPO):
            self.expect_verified(verdicts.get(repository, Verdict(result.returncode, repository,
                                                                  "missing")))

    # 6 ---------------------------------------------------------------------------------

    def attack_tampered_metadata(self) -> None:
        """A mirror edits repomd.xml after publication."""
        self.narrator.substep("a", "Metadata changed after publication")
        evil = self.path(f"evil-mirror/{RPM_REPO}")
        shutil.copytree(self.path(f"mirror/{RPM_REPO}"), evil)
        repomd = evil / "repodata" / "repomd.xml"
        text = repomd.read_text(encoding="utf-8")
        edited = text.replace("<revision>", "<revision>6", 1)
        if edited == text:
            edited = text.replace("</repomd>", "<!-- evil -->\n</repomd>")
        repomd.write_text(edited, encoding="utf-8")
        self.narrator.attack("a mirror edits repodata/repomd.xml (it could point at other "
                             "packages) and serves it to the user")
        self.expect_rejected(self.verify(RPM_REPO, f"evil-mirror/{RPM_REPO}/repodata/repomd.xml"))

    def attack_replay(self) -> None:
        """Version 2 is logged and accepted; then a mirror shows version 1 again."""
        narrator = self.narrator
        narrator.substep(
            "b", "A replayed old repository state",
            "The publisher ships hello-vigil 1.1 as demo-rpm version 2; a frozen mirror keeps "
            "serving version 1, whose signatures are still perfectly valid.",
        )
        shutil.copytree(self.path(f"mirror/{RPM_REPO}"), self.path(f"frozen-mirror/{RPM_REPO}"))
        source = write_source(hello_source("1.1", "Hello again from Vigil"),
                              self.path("publisher/source/hello-vigil-1.1"))
        rpm = build_rpm(source, self.path("publisher/build-1.1"))
        repo = self.path(f"publisher/repos/{RPM_REPO}")
        for old in repo.glob("*.rpm"):
            old.unlink()
        make_rpm_repository(repo, [rpm])
        index = self.release(RPM_REPO, 2, "publisher-rpm")
        narrator.ok(f"built {rpm.name}; release {RPM_REPO} v2 logged at index {index}")
        self.rebuild("1.1", 2, [RPM_REPO])
        shutil.rmtree(self.path(f"mirror/{RPM_REPO}"))
        shutil.copytree(repo, self.path(f"mirror/{RPM_REPO}"))
        self.expect_verified(self.verify(RPM_REPO, f"mirror/{RPM_REPO}/repodata/repomd.xml"))
        narrator.attack("a frozen mirror shows the user version 1's metadata again")
        self.expect_rejected(
            self.verify(RPM_REPO, f"frozen-mirror/{RPM_REPO}/repodata/repomd.xml"))

    def attack_blocked(self) -> None:
        """The security team blocks the current release."""
        narrator = self.narrator
        narrator.substep(
            "c", "A release the security team blocked",
            "It logs a signed block advisory (OSV inside) against demo-rpm version 2.",
        )
        self.vigil("advisory", "create", "--repository", RPM_REPO, "--id", "VSA-DEMO-1",
                   "--action", "block", "--release", f"publisher/{RPM_REPO}-v2.json",
                   "--introduced", "2", "--summary", "hello-vigil 1.1 greets too loudly",
                   "--out", "security/VSA-DEMO-1.json")
        self.vigil("advisory", "sign", "security/VSA-DEMO-1.json",
                   "--key", self.parties["security"].key_file)
        submitted = self.vigil("advisory", "submit", "security/VSA-DEMO-1.dsse.json",
                               *self.log_args())
        narrator.ok(f"advisory VSA-DEMO-1 (block, from version 2) logged at index "
                    f"{_logged_index(submitted)}")
        narrator.attack(f"the user is still offered {RPM_REPO} version 2, signed and "
                        "reproduced, but blocked")
        self.expect_rejected(self.verify(RPM_REPO, f"mirror/{RPM_REPO}/repodata/repomd.xml"))


def _logged_index(output: str) -> int:
    """The index in ``logged at index N ...``."""
    for line in output.splitlines():
        if line.startswith("logged at index "):
            return int(line.split()[3])
    raise CommandError(f"no log index in: {output.strip()}")


def _json(text: str) -> Any:
    """Parsed JSON, or None."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"
