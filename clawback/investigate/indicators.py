"""Indicators: what the agent contacted or was told to contact, injections, exfiltration shapes,
logins, listeners, and what was installed to stay.

Inbound text (messages, tool results) is searched for prompt-injection markers; URLs, domains
and addresses inside inbound text that carries such a marker are what the agent was *told to
contact*. Outbound text (URLs fetched, commands run, messages sent) is searched for
exfiltration shapes; the URLs, domains and addresses in it are what the agent *contacted*.

Severity is a heuristic, documented in the rules file: an unknown domain merely contacted is
``low`` (a listed fact, no alarm), one contacted by a command with an exfiltration shape, a
paste site, or one the injected text named is ``high``. Memory is bounded: at most
``MAX_INDICATORS`` distinct values are kept, the rest are counted.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import urlsplit

from clawback.investigate.records import (
    COMMAND,
    INBOUND,
    OUTBOUND,
    WRITTEN,
    Event,
    Indicator,
)
from clawback.investigate.rules import Rules, RuleSet, severity_rank

MAX_INDICATORS = 10_000
MAX_TEXT_FOR_HOSTS = 2 * 1024 * 1024
_URL = re.compile(r"""(?i)\b(?:https?|wss?|ftp)://[^\s"'<>\\`)\]}|]+""")
_IPV4 = re.compile(r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
                   r"(?![\d.])")
_NET_COMMAND = re.compile(r"(?i)\b(curl|wget|nc|ncat|ssh|scp|sftp|rsync|telnet|socat|ping|dig|"
                          r"nslookup|ftp|http|https)\b((?:[ \t]+[^\s|;&]+){1,12})")
_HOST = re.compile(r"^(?:[a-z0-9_.+-]+@)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                   r"[a-z]{2,24})(?::\d+)?(?:/.*)?$", re.IGNORECASE)
# File names a bare "host" check would take for domains.
_NOT_HOSTS = re.compile(r"(?i)\.(sh|py|js|ts|json|txt|md|log|env|yaml|yml|toml|conf|cfg|tar|gz|"
                        r"zip|pem|key|pub|crt|csv|html?|xml|sqlite|db|bak|tmp)$")


@functools.lru_cache(maxsize=65536)
def hosts_in_url(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _public(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified or address.is_link_local
                or address.is_multicast)


_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"))


def _global(value: str) -> bool:
    """Not the LAN, a VPN's carrier-grade NAT range, loopback or link-local. (Documentation
    ranges such as 198.51.100.0/24 count as the internet: the sample's attacker uses them.)"""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True  # a host name: where it points is not known here
    return not any(address in net for net in _LOCAL_NETWORKS if net.version == address.version)


class IndicatorTable:
    """Distinct indicators, keyed by (type, value, relation), first sighting kept."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.items: dict[tuple[str, str, str], Indicator] = {}
        self.overflow = 0

    def add(self, event: Event, type_: str, value: str, relation: str, severity: str,
            rule: str, why: str = "", known: bool = False) -> None:
        key = (type_, value, relation)
        found = self.items.get(key)
        if found is not None:
            found.count += 1
            if severity_rank(severity) > severity_rank(found.severity):
                found.severity, found.rule = severity, rule
            if event.ts is not None and (found.first_ts is None or event.ts < found.first_ts):
                found.first_ts, found.ref, found.summary = event.ts, event.ref, event.summary
            return
        if len(self.items) >= MAX_INDICATORS:
            self.overflow += 1
            return
        self.items[key] = Indicator(type_, value, relation, severity, rule, event.ts, event.ref,
                                    event.summary, known=known, why=why)

    def sorted(self) -> list[Indicator]:
        return sorted(self.items.values(), key=lambda i: (
            -severity_rank(i.severity), i.first_ts is None, i.first_ts or 0, i.type, i.value,
        ))


class Scanner:
    """Flags events and fills the indicator table; texts are searched, never kept."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.table = IndicatorTable(rules)
        self.injection = RuleSet(rules.injection)
        self.exfiltration = RuleSet(rules.exfiltration)
        self.persistence = RuleSet(rules.persistence)
        self._hosts_seen: dict[str, tuple[bool, bool]] = {}

    def scan(self, event: Event) -> None:
        injected_hosts: list[tuple[str, str]] = []
        exfil = False
        for role, text in event.texts:
            if not text:
                continue
            if role == INBOUND:
                hits = self._patterns(event, text, self.injection, "injection")
                if hits:
                    injected_hosts += self._hosts(text[:MAX_TEXT_FOR_HOSTS], urls_only=False)
            elif role in (COMMAND, WRITTEN) or (
                role == OUTBOUND and event.kind in ("message.sent", "agent.send")
            ):
                exfil |= bool(self._patterns(event, text, self.exfiltration,
                                             "exfiltration"))
                if role != OUTBOUND:
                    self._patterns(event, text, self.persistence, "persistence")
        contacted: list[tuple[str, str]] = []
        for role, text in event.texts:
            if text and role in (COMMAND, OUTBOUND) and event.kind != "agent.reply":
                contacted += self._hosts(text[:MAX_TEXT_FOR_HOSTS],
                                         urls_only=role == OUTBOUND
                                         and event.kind not in ("tool.web_fetch", "tool.browser"))
        for type_, value in dict.fromkeys(contacted):
            self._contact(event, type_, value, "contacted", exfil)
        for type_, value in dict.fromkeys(injected_hosts):
            self._contact(event, type_, value, "told to contact", True)
        self._facts(event)

    # -- text searches ------------------------------------------------------------------------

    def _patterns(self, event: Event, text: str, rules: RuleSet, type_: str) -> list[str]:
        hits = []
        for rule, _match in rules.matching(text):
            event.flag(rule.id, rule.severity)
            self.table.add(event, type_, rule.id, "seen", rule.severity, rule.id, rule.why)
            hits.append(rule.id)
        return hits

    def _hosts(self, text: str, *, urls_only: bool) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for url in _URL.findall(text):
            url = url.rstrip(".,;:!?'\"")
            found.append(("url", url))
            host = hosts_in_url(url)
            if host:
                found.append(("ip" if _is_ip(host) else "domain", host))
        if urls_only:
            return found
        for match in _NET_COMMAND.finditer(text):
            for word in match.group(2).split():
                word = word.strip("'\"")
                if word.startswith("-") or "://" in word:
                    continue
                host_match = _HOST.match(word)
                if host_match and not _NOT_HOSTS.search(host_match.group(1)):
                    found.append(("domain", host_match.group(1).lower()))
        for address in _IPV4.findall(text):
            if _public(address):
                found.append(("ip", address))
        return found

    def _contact(self, event: Event, type_: str, value: str, relation: str, bad: bool) -> None:
        if type_ == "ip" and not _public(value):
            return
        host = hosts_in_url(value) if type_ == "url" else value
        known, paste = self._host_facts(host) if host else (False, False)
        known = known and type_ != "ip"
        if paste:
            severity, rule = "high", "paste-site"
            event.flag("paste-site", "high")
        elif known and not bad:
            severity, rule = "info", "known-domain"
        elif bad:
            severity, rule = "high", "exfiltration-target" if relation == "contacted" else (
                "injected-target")
        else:
            severity, rule = "low", "unknown-destination"
        self.table.add(event, type_, value, relation, severity, rule, known=known)

    def _host_facts(self, host: str) -> tuple[bool, bool]:
        """(known, paste site) of a host, remembered: an agent fetches the same hosts again."""
        facts = self._hosts_seen.get(host)
        if facts is None:
            if len(self._hosts_seen) > 65536:
                self._hosts_seen.clear()
            facts = (self.rules.is_known(host), self.rules.is_paste_site(host))
            self._hosts_seen[host] = facts
        return facts

    # -- facts that are indicators by kind ---------------------------------------------------

    def _facts(self, event: Event) -> None:
        attrs = event.attrs
        if event.kind == "auth.login":
            address = str(attrs.get("from") or "")
            if address:
                # From the internet: medium (a heuristic: the owner may travel); from the
                # LAN: low.
                internet = _global(address)
                self.table.add(event, "ip" if _is_ip(address) else "domain", address,
                               "logged in from", "medium" if internet else "low", "ssh-login")
                event.flag("ssh-login", "medium" if internet else "low")
        elif event.kind == "auth.failure":
            address = str(attrs.get("from") or "")
            if address:
                self.table.add(event, "ip", address, "failed login from", "low", "ssh-failure")
        elif event.kind == "net.connection":
            remote = str(attrs.get("remote") or "")
            self.table.add(event, "ip", remote, "connected to (socket)", "low",
                           "outbound-connection")
        elif event.kind == "net.listen":
            port, address = attrs.get("port"), str(attrs.get("address") or "")
            # Loopback listeners are the host talking to itself; what others can reach counts.
            if (isinstance(port, int) and port not in self.rules.expected_listen_ports
                    and _public(address)):
                self.table.add(event, "listener", f"{address}:{port}", "listening", "info",
                               "listener")
        elif event.kind in ("cron.add", "cron.update"):
            event.flag("agent-scheduled-job", "medium")
            self.table.add(event, "persistence", f"cron job {attrs.get('job') or '?'}",
                           "scheduled by the agent", event.severity, "agent-scheduled-job")
        elif event.kind == "tool.write" and attrs.get("persistence_path"):
            event.flag("agent-wrote-startup-file", "medium")
            self.table.add(event, "persistence", str(attrs.get("path") or "?"),
                           "written by the agent", event.severity, "agent-wrote-startup-file")
        elif event.kind in ("gateway.config.apply", "gateway.config.patch", "gateway.update.run"):
            event.flag("agent-changed-gateway", "medium")
