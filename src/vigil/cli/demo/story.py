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
    """What ``vigil verify --json`` said (or its raw output if it said no JSON)."""

    code: int
    verdict: str
    checks: list[dict[str, Any]]
    output: str

    def failed_checks(self) -> list[str]:
        """``name: detail`` of each check that did not pass."""
        return [
            f"{check.get('name', '?')}: {check.get('detail', '')}".rstrip(": ")
            for check in self.checks
            if not check.get("ok", False)
        ]

    def passed_checks(self) -> list[str]:
        """Names of the checks that passed."""
        return [str(check.get("name", "?")) for check in self.checks if check.get("ok", False)]


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
        commands: Runs the ``vigil`` commands.
    """

    workdir: Path
    narrator: Narrator
    commands: Commands = field(init=False)
    parties: dict[str, Party] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    log_url: str = ""
    charter: Charter | None = None
    started_s: float = field(default_factory=time.monotonic)

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
        narrator.console.print(f"[dim]working directory: {escape(str(self.workdir))}[/dim]")
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
            finally:
                pids = [str(s.pid) for s in servers]
                servers.stop_all()
                narrator.console.print(
                    f"\n[dim]stopped the log and the witnesses (pids {', '.join(pids)})[/dim]"
                    if pids else ""
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
                narrator.detail(line.strip())
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
            f'url = "http://127.0.0.1:{self.ports[w]}"\n'
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
            "with everything they cosigned before, and a checkpoint counts with 2 of 3.",
        )
        log_vkey = self.parties["log"].vkey
        self.commands.run_all(
            [["witness", "add-log", f"witnesses/{w}", "--origin", ORIGIN, "--vkey", log_vkey,
              "--url", self.log_url] for w in WITNESSES]
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
            args = ["witness", "serve", f"witnesses/{w}", "--port", str(port)]
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
        try:
            document = json.loads(result.stdout)
            verdict = str(document.get("verdict", "?"))
            checks = [c for c in document.get("checks", []) if isinstance(c, dict)]
        except (ValueError, AttributeError):
            verdict, checks = "?", []
        output = (result.stdout.strip() + "\n" + result.stderr.strip()).strip()
        return Verdict(result.returncode, verdict, checks, output)

    def expect_verified(self, repository: str, metadata: str) -> None:
        """The user's client must accept it (exit 0)."""
        verdict = self.verify(repository, metadata)
        if verdict.code == 0 and verdict.verdict == "verified":
            passed = ", ".join(verdict.passed_checks())
            self.narrator.ok(f"{repository}: verified (exit 0)" + (f": {passed}" if passed
                                                                   else ""))
            return
        self.narrator.fail(f"{repository}: vigil verify exit {verdict.code}, verdict "
                           f"{verdict.verdict!r}: {_summary(verdict)}")

    def expect_rejected(self, repository: str, metadata: str) -> None:
        """The user's client must refuse it (exit 1)."""
        verdict = self.verify(repository, metadata)
        if verdict.code == 1 and verdict.verdict == "rejected":
            self.narrator.caught(f"by vigil verify (exit 1): {_summary(verdict)}")
            return
        self.narrator.fail(f"attack NOT caught: vigil verify exit {verdict.code}, verdict "
                           f"{verdict.verdict!r}: {_summary(verdict)}")

    def user_verifies(self) -> None:
        """Both repositories, as downloaded from the mirror."""
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
        self.expect_verified(RPM_REPO, f"mirror/{RPM_REPO}/repodata/repomd.xml")
        self.expect_verified(DEB_REPO, f"mirror/{DEB_REPO}/Release")

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
        self.expect_rejected(RPM_REPO, f"evil-mirror/{RPM_REPO}/repodata/repomd.xml")

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
        self.expect_verified(RPM_REPO, f"mirror/{RPM_REPO}/repodata/repomd.xml")
        narrator.attack("a frozen mirror shows the user version 1's metadata again")
        self.expect_rejected(RPM_REPO, f"frozen-mirror/{RPM_REPO}/repodata/repomd.xml")

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
        self.expect_rejected(RPM_REPO, f"mirror/{RPM_REPO}/repodata/repomd.xml")


def _logged_index(output: str) -> int:
    """The index in ``logged at index N ...``."""
    for line in output.splitlines():
        if line.startswith("logged at index "):
            return int(line.split()[3])
    raise CommandError(f"no log index in: {output.strip()}")


def _summary(verdict: Verdict) -> str:
    failed = verdict.failed_checks()
    if failed:
        return "; ".join(failed)
    lines = verdict.output.splitlines()
    return lines[-1] if lines else "(no output)"
