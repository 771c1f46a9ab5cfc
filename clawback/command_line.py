"""The ``clawback`` command line: one option table, and the argparse parsers built from it.

Only clawback's own options exist. Every command answers ``--help`` (and ``clawback help
COMMAND``); an unknown command or option is refused with a suggestion and exit 2, like every
other usage error, before anything is done. Abbreviations are refused too: ``--dry`` is not
``--dry-run`` (it was a task runner's "echo, don't run" flag, which clawback once accepted and
ignored while containing for real).

Building argparse's parser for every command costs ~10 ms (each option asks gettext and the
terminal size), which the panic button cannot spend before its first action. So ``parse`` reads
the global options and the command name with a small top-level parser, then builds only that
command's parser. ``full_parser`` builds the same parsers as argparse subcommands, for the
top-level help and the shell completion scripts; both are made by ``_add_command`` from
``COMMANDS``, and a test checks they accept and refuse the same command lines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple, NoReturn

from clawback import __version__
from clawback.display import COLOR_CHOICES, Display


class Arg(NamedTuple):
    """One positional argument or option of a command."""

    name: str  # "dry-run" for --dry-run; "incident" for a positional
    help: str
    metavar: str | None = None  # an option that takes a value; None: a flag
    choices: tuple[str, ...] | None = None
    positional: bool = False
    default: Any = None
    optional: bool = False  # a positional that may be left out

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return self.name if self.positional else f"--{self.name}"


class Command(NamedTuple):
    summary: str  # one line, listed by ``clawback --help``
    description: str  # the paragraph of ``clawback COMMAND --help``
    args: tuple[Arg, ...]


def _incidents_dir() -> Arg:
    return Arg("incidents-dir", "where incidents are kept (default: "
                                "$XDG_STATE_HOME/clawback/incidents)", "DIR")


def _config(what: str = "") -> Arg:
    return Arg("config", "clawback.toml (default: ./clawback.toml, then "
                         f"$XDG_CONFIG_HOME/clawback/clawback.toml){what}", "FILE")


_HOME = Arg("home", "the agent user's home, where OpenClaw keeps its state (default: [agent] "
                    "user_home in clawback.toml, else yours)", "DIR")
_INCIDENT = Arg("incident", "incident id (as contain printed it) or the incident's directory",
                "INCIDENT", positional=True)
_JSON = Arg("json", "print one machine-readable JSON document instead")

COMMANDS: dict[str, Command] = {
    "contain": Command(
        "the panic button: snapshot, stop the agent, revoke its keys, seal the evidence",
        "Contain a compromised agent now: volatile snapshot, stop the agent through its "
        "supervisor for good, revoke every key it could reach and prove it dead, seal the "
        "evidence, rotate the agent's own tokens, lock its config down, and (with "
        "--cut-network) cut the network. Exit 0: all done; 3: done as far as possible, a "
        "human must act (the to-do list is printed); 2: bad input, nothing done; 4: refused.",
        (
            Arg("dry-run", "show every action that would be taken; change and write nothing, "
                           "and exit with the code the real run would give"),
            Arg("home", _HOME.help, "DIR"),
            _config(),
            Arg("playbook", "playbook YAML to run (default: the packaged contain.yaml)", "FILE"),
            Arg("cut-network", "also run the network-cut step (asks first unless --yes)"),
            Arg("yes", "approve every step that asks for approval"),
            Arg("resume", "continue incident ID: skip what is done, retry failures, ask about "
                          "manual steps", "ID"),
            Arg("confirm-manual", "with --resume: record every open manual step as done by "
                                  "you, now"),
            Arg("hosts", "contain these [[hosts]] over SSH in one incident: names, @group, @all "
                         "or user@address:port, comma-separated", "LIST"),
            _incidents_dir(),
            _JSON,
        ),
    ),
    "verify": Command(
        "prove an incident's timeline and evidence are intact",
        "Check an incident's signed timeline (hashes, signatures, chain, intent/result pairs, "
        "close) and its evidence archives against the manifest. Exit 0: intact; 1: tampered "
        "or invalid; 2: bad input.",
        (
            _INCIDENT,
            Arg("checkpoint", "a checkpoint you kept off the host (rules out truncation and "
                              "rewrite)", "FILE"),
            Arg("pubkey", "the signing public key (PEM) you trust; default: the one the "
                          "timeline names", "FILE"),
            _incidents_dir(),
            Arg("json", "print the verdicts as JSON"),
        ),
    ),
    "report": Command(
        "write the post-incident report (Markdown, HTML, Timesketch)",
        "Write report.md, a self-contained report.html and timesketch.jsonl from the signed "
        "timeline and the evidence manifest. Exit 1 when the timeline is not intact.",
        (
            _INCIDENT,
            Arg("format", "comma-separated: md, html, timesketch (default: all three)", "LIST",
                default="md,html,timesketch"),
            Arg("checkpoint", "a checkpoint you kept off the host (the report says "
                              "'unanchored' without)", "FILE"),
            Arg("pubkey", "the signing public key (PEM) you trust", "FILE"),
            _incidents_dir(),
        ),
    ),
    "investigate": Command(
        "what the agent did, which secrets left, and since when (sealed evidence only)",
        "Verify the incident, then read only its sealed evidence (never the live host): the "
        "agent's activity from its transcripts and logs, each credential exposed (read or sent, "
        "first time and event) or reachable only, indicators (domains, injections, "
        "exfiltration, persistence) with their evidence member and offset, and the incident "
        "window. Seals investigation.json into the incident. Exit 0: done; 1: the incident "
        "does not verify (nothing investigated); 2: bad input (rules, incident).",
        (
            _INCIDENT,
            Arg("rules", "extra rules files (YAML, comma-separated), on top of the shipped ones "
                         "and $XDG_CONFIG_HOME/clawback/investigate.yaml", "FILES"),
            Arg("checkpoint", "a checkpoint you kept off the host (verify anchors to it)",
                "FILE"),
            Arg("pubkey", "the signing public key (PEM) you trust", "FILE"),
            Arg("ask-providers", "also ask each provider configured in clawback.toml that can "
                                 "say (AWS: IAM last use, CloudTrail) how the keys were used"),
            _config(", for --ask-providers"),
            _incidents_dir(),
            Arg("json", "print investigation.json's summary, window, credentials and "
                        "indicators as JSON"),
        ),
    ),
    "restore-network": Command(
        "undo an incident's network cut, or keep it (--confirm)",
        "Remove exactly the nftables table the cut added, or with --confirm keep the cut and "
        "disarm its automatic rollback. On a fleet incident, over SSH on every cut host. "
        "Exit 3 when a host was not done.",
        (
            Arg("incident", "incident id or directory whose network cut to undo", "INCIDENT",
                positional=True),
            Arg("confirm", "keep the cut instead: you still have access, disarm the automatic "
                           "rollback"),
            Arg("hosts", "fleet incident: only these cut hosts (comma-separated names; "
                         "default: all)", "LIST"),
            Arg("config", "fleet incident: clawback.toml naming the hosts (default: the one it "
                          "ran with)", "FILE"),
            _incidents_dir(),
            Arg("json", "print the outcome as JSON"),
        ),
    ),
    "drill": Command(
        "quarterly rotation with zero downtime; --preflight changes nothing",
        "Rotate every key with zero downtime (new key created, stored, written where the agent "
        "reads the old one, tested, then the old one retired and proven dead), timed per "
        "provider. --preflight proves, changing nothing, that contain would work: the keyring, "
        "every credential reference, every admin permission, the agent found; it exits with "
        "the code contain would give.",
        (
            Arg("preflight", "change nothing: prove each admin credential can do what contain "
                             "needs"),
            Arg("dry-run", "show every rotation that would be made; change and write nothing"),
            Arg("home", _HOME.help, "DIR"),
            _config(),
            Arg("playbook", "drill playbook YAML (default: the packaged drill.yaml)", "FILE"),
            Arg("resume", "finish drill ID after a crash: one live new key per credential, old "
                          "ones dead", "ID"),
            Arg("confirm-manual", "with --resume: record every open manual step as done by "
                                  "you, now"),
            _incidents_dir(),
            Arg("json", "print the result as JSON"),
        ),
    ),
    "audit": Command(
        "the hardening checklist, read-only",
        "Check gateway exposure, auth, versions against advisories, file modes, plaintext "
        "secrets, containers, exec approvals, the host, and whether contain would work. "
        "Exit 3 with --fail-on when a finding is at least that severe.",
        (
            _HOME,
            Arg("format", "output format", "FORMAT", choices=("text", "json", "sarif"),
                default="text"),
            Arg("fail-on", "exit 3 when a finding is at least this severe", "SEVERITY",
                choices=("critical", "high", "medium", "low")),
            _config(", for the contain-readiness checks"),
        ),
    ),
    "discover": Command(
        "list every secret the agent can reach (fingerprints only)",
        "List the secrets an OpenClaw install exposes, where each was found, by provider; "
        "never a value. Exit 3 when no OpenClaw install is found there (nothing found is not "
        "all clear: give --home), 2 when --home does not exist.",
        (_HOME, Arg("json", "print the inventory as JSON (fingerprints only)"),
         _config(": its [agent] table says where to look, as for contain")),
    ),
    "status": Command(
        "every incident: agent, live keys, open steps, network cut, rollback time left",
        "Show each incident on this machine (or the one named): whether its run is under way, "
        "closed or died; whether the agent is stopped; the keys still live or unproven, by "
        "name; the open steps, most urgent first; a network cut and its auto-rollback with "
        "the time left (and whether its timer is alive); whether a checkpoint was shipped "
        "off this host. Changes nothing. Exit 0: nothing open; 3: something needs a human.",
        (
            Arg("incident", "only this incident (id or directory)", "INCIDENT",
                positional=True, optional=True),
            _incidents_dir(),
            Arg("json", "print one JSON document instead"),
        ),
    ),
    "init": Command(
        "write a commented clawback.toml for this host, then run the preflight",
        "Discover the agent's install and write a commented clawback.toml (0600) with every "
        "provider found, a reference (keyring:clawback/...) where each admin credential "
        "goes, and what each must be allowed to do; never over an existing file. Then run "
        "the preflight on it. Exit: the preflight's (0: contain would do everything; 3: "
        "something is left to you, such as storing the credentials); 2: bad input.",
        (
            _HOME,
            Arg("output", "where to write it (default: $XDG_CONFIG_HOME/clawback/"
                          "clawback.toml); an existing file is never replaced", "FILE"),
            Arg("json", "print the result and the preflight as JSON"),
        ),
    ),
    "runbook": Command(
        "a printable page: what contain does here by itself, and each step left to you",
        "From the preflight and discovery, for this host: what contain will do by itself, "
        "each step it will leave to a human with its instructions and link, what to fix now "
        "so it does more, and what to have at hand. Markdown on stdout, or --output FILE "
        "(0600). Changes nothing. Exit 0; 3 when no OpenClaw install is found there (the "
        "page says so); 2: bad input.",
        (
            _HOME,
            _config(),
            Arg("format", "md or html", "FORMAT", choices=("md", "html"), default="md"),
            Arg("output", "write it to FILE (0600) instead of stdout", "FILE"),
        ),
    ),
    "demo": Command(
        "contain a sandbox: the real playbook, no root, loopback only",
        "Run the real contain playbook against an embedded sandbox (a sample OpenClaw home "
        "with planted fake secrets, a gateway stand-in under supervisord, moto for AWS, "
        "stand-ins for the other providers), then verify and report. Needs the demo extra: "
        "pip install 'clawback[demo]'. Exit 0 when the demo showed what it should, 1 when "
        "something in it broke.",
        (Arg("json", "print the contain result and the demo's findings as JSON"),),
    ),
    "help": Command(
        "show the help of a command",
        "Show the help of COMMAND (the same as clawback COMMAND --help), or this list.",
        (Arg("topic", "the command to explain", "COMMAND", positional=True, optional=True),),
    ),
    "completion": Command(
        "print a shell completion script (bash, zsh, tcsh)",
        "Print a completion script for your shell. Install it, for example: clawback "
        "completion bash > /etc/bash_completion.d/clawback, or for zsh: clawback completion "
        "zsh > \"${fpath[1]}/_clawback\".",
        (Arg("shell", "the shell", "SHELL", choices=("bash", "zsh", "tcsh"), positional=True),),
    ),
}

GLOBAL_ARGS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-q", "--quiet"), {"action": "store_true",
                         "help": "print only the outcome, the to-do list and errors"}),
    (("-v", "--verbose"), {"action": "store_true",
                           "help": "print every action with its whole detail"}),
    (("--color",), {"choices": COLOR_CHOICES, "metavar": "WHEN",
                    "help": "colour: auto (a terminal, and NO_COLOR unset), always, never "
                            "(default: auto)"}),
)

EXIT_CODES = (
    "exit codes: 0 done · 1 internal error, or verify found tampering · 2 bad input or a "
    "usage error, nothing done · 3 done as far as possible, a human must act · 4 refused "
    "(lock held, approval denied)"
)

# Flags of the task runner clawback was once built on; typed from habit, they must never pass
# for something else.
_FOREIGN_FLAGS = {
    "--dry": "--dry was the task runner's 'echo commands' flag; a dry run is --dry-run",
    "-R": "-R was the task runner's 'echo commands' flag; a dry run is --dry-run",
    "-f": "-f was the task runner's config flag; clawback's is --config FILE, after the "
          "command",
}


class UsageError(Exception):
    """A command line argparse refused; the message is already printed."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a suggestion after every refusal and no abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        hint = _suggestion(self, message)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    import difflib

    if message.startswith("unrecognized arguments:"):
        hints = []
        known = [s for a in parser._actions for s in a.option_strings]
        for token in message.split(":", 1)[1].split():
            flag = token.split("=", 1)[0]
            if flag in _FOREIGN_FLAGS:
                hints.append(_FOREIGN_FLAGS[flag])
            elif flag.startswith("-"):
                close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"did you mean {close[0]}?")
        hints.append(f"see: {parser.prog} --help")
        return "\n  " + "\n  ".join(dict.fromkeys(hints))
    if "invalid choice:" in message and "(choose from" in message:
        wrong = message.split("invalid choice:", 1)[1].split("(choose from")[0].strip(" '")
        choices = [c.strip(" '") for c in message.split("(choose from", 1)[1].rstrip(")")
                   .split(",")]
        close = difflib.get_close_matches(wrong, choices, n=1, cutoff=0.5)
        if close:
            return f"\n  did you mean {close[0]!r}?"
    return f"\n  see: {parser.prog} --help"


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the command; after it, an option left out keeps what was
    # given before it (SUPPRESS: no default that would overwrite it).
    group = parser.add_argument_group("output")
    for flags, spec in GLOBAL_ARGS:
        group.add_argument(*flags, **spec, default=None if top else argparse.SUPPRESS)


def _add_command(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for arg in COMMANDS[name].args:
        spec: dict[str, Any] = {"help": arg.help}
        if arg.choices:
            spec["choices"] = arg.choices
        if arg.positional:
            spec["metavar"] = arg.metavar
            if arg.optional:
                spec["nargs"] = "?"
            parser.add_argument(arg.dest, **spec)
        elif arg.metavar is None:
            parser.add_argument(arg.flag, action="store_true", dest=arg.dest, **spec)
        else:
            parser.add_argument(arg.flag, metavar=arg.metavar, dest=arg.dest,
                                default=arg.default, **spec)
    _add_globals(parser, top=False)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command, alone (what ``parse`` uses)."""
    command = COMMANDS[name]
    return _add_command(_Parser(prog=f"clawback {name}", description=command.description,
                                epilog=EXIT_CODES if name not in ("help", "completion")
                                else None), name)


def _epilog() -> str:
    import textwrap

    lines = ["commands:"]
    for name, command in COMMANDS.items():
        lines += textwrap.wrap(command.summary, width=78, initial_indent=f"  {name:<16} ",
                               subsequent_indent=" " * 19)
    lines += ["", "clawback COMMAND --help (or clawback help COMMAND) shows a command's options.",
              *textwrap.wrap(EXIT_CODES + ".", width=78)]
    return "\n".join(lines)


def _top_parser(*, with_commands: bool) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="clawback",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Incident response for self-hosted AI agents (OpenClaw first).",
        epilog=_epilog(),
    )
    parser.add_argument("--version", action="version", version=f"clawback {__version__}")
    _add_globals(parser, top=True)
    if with_commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                    parser_class=_Parser)
        for name, command in COMMANDS.items():
            _add_command(sub.add_parser(name, help=command.summary,
                                        description=command.description), name)
    else:
        parser.add_argument("command", metavar="COMMAND", choices=list(COMMANDS),
                            help="one of the commands below")
    return parser


def full_parser() -> argparse.ArgumentParser:
    """Every command as an argparse subcommand: the top-level help and shell completion."""
    return _top_parser(with_commands=True)


class Invocation(NamedTuple):
    command: str
    options: dict[str, Any]
    display: Display


def parse(argv: Sequence[str]) -> Invocation:
    """Read a command line; argparse prints help or the refusal and exits (0 or 2)."""
    argv = list(argv)
    split = _command_index(argv)
    if split is None:
        top = _top_parser(with_commands=False)
        if not argv or all(a in ("-q", "--quiet", "-v", "--verbose") for a in argv):
            top.print_help(sys.stderr)
            top.exit(2, "\nclawback: error: no command given\n")
        top.parse_args(argv)  # --help, --version, or a refusal: it exits
        top.error("no command given")
    top = _top_parser(with_commands=False)
    stray = _unknown_global(argv[:split])
    if stray is not None:
        top.error(f"unrecognized arguments: {stray}")
    before = top.parse_args([*argv[:split], argv[split]])
    name = before.command
    parsed = command_parser(name).parse_args(argv[split + 1:])
    options = vars(parsed)
    settings = {key: options.pop(key, getattr(before, key))
                for key in ("quiet", "verbose", "color")}
    if settings["quiet"] and settings["verbose"]:
        command_parser(name).error("-q/--quiet and -v/--verbose exclude each other")
    display = Display(quiet=bool(settings["quiet"]), verbose=bool(settings["verbose"]),
                      color=settings["color"] or "auto")
    return Invocation(name, options, display)


def _command_index(argv: Sequence[str]) -> int | None:
    """Where the command name is: the first word that is neither a global option nor the
    value of ``--color``."""
    skip = False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--color":
            skip = True
            continue
        if word == "--" or not word.startswith("-"):
            return index if word != "--" else (index + 1 if index + 1 < len(argv) else None)
    return None


def _unknown_global(words: Sequence[str]) -> str | None:
    """The first word before the command that is no global option (``-f FILE`` would
    otherwise make FILE the command)."""
    known = {flag for flags, _ in GLOBAL_ARGS for flag in flags} | {"-h", "--help",
                                                                     "--version", "--"}
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--color":
            skip = True
        elif word.split("=", 1)[0] not in known:
            return word
    return None


def show_help(topic: str | None) -> int:
    """``clawback help [COMMAND]``."""
    if topic is None:
        _top_parser(with_commands=False).print_help()
        return 0
    if topic not in COMMANDS:
        _top_parser(with_commands=False).parse_args([topic])  # refuses with a suggestion
    command_parser(topic).print_help()
    return 0


def completion_script(shell: str) -> str:
    import shtab

    return str(shtab.complete(full_parser(), shell=shell))
