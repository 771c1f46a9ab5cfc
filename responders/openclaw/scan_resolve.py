"""The end of a pass: references resolved (``${VAR}``, env and file SecretRefs), AWS key ids
and Twilio SIDs paired with their secrets by name, and the sightings of each value merged
into one ``Credential``."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from responders.interface import Credential, Location, fingerprint
from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence, Recognition
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.config_load import MAX_CONFIG_BYTES, format_key_path
from responders.openclaw.inventory import SecretReference
from responders.openclaw.layout import (
    ENVIRONMENT_LOCATION,
)
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5
from responders.openclaw.scan_base import EnvSource, PendingReference, ScanBase, Sighting

# The parts of a name that say which half of an AWS credential it holds; what is left (the
# stem) says which credential: PROD_AWS_ACCESS_KEY_ID pairs with PROD_AWS_SECRET_ACCESS_KEY,
# accessKeyId with secretAccessKey, never with the BACKUP_AWS_… pair next to them.
_AWS_NAME_PARTS = tuple(
    re.compile(rf"(?:^|_){part}(?:_|$)")
    for part in (
        "SECRET_ACCESS_KEY", "ACCESS_KEY_ID", "SESSION_TOKEN", "SECURITY_TOKEN", "SECRET_KEY",
        "ACCESS_KEY", "KEY_ID", "SECRET", "TOKEN", "KEY", "ID",
    )
)
_AWS_SECRET_KINDS = frozenset({"aws:access_key", "aws:session"})


def _id_provider(identifier: str) -> str | None:
    recognition = sp.recognize_value(identifier)
    return recognition.provider if recognition is not None else None


def _pair_stem(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()
    words = re.sub(r"[^A-Z0-9]+", "_", words)
    for part in _AWS_NAME_PARTS:  # the longest part the name holds as whole words
        if part.search(words):
            words = part.sub("_", words, count=1)
            break
    return re.sub(r"_+", "_", words).strip("_")


class Resolution(ScanBase):
    """What a pass's sightings and references become once every source was read."""

    def resolve_references(self) -> list[SecretReference]:
        # OpenClaw never overrides: the process environment first, then the service's, then the
        # dotenv files, then the config's env block (research/openclaw.md §1.4).
        ordered: list[EnvSource] = [EnvSource(ENVIRONMENT_LOCATION, self.env)]
        ordered += [
            s for s in self.env_sources if s.path in {svc.path for svc, _ in self.service_envs}
        ]
        ordered += [s for s in self.env_sources if s not in ordered]
        resolved: list[SecretReference] = []
        for ref in self.references:
            fp: str | None = None
            if ref.source in {"env-substitution", "env"}:
                source = next((s for s in ordered if ref.target in s.values), None)
                if source is not None:
                    value = source.values[ref.target]
                    fp = fingerprint(value)
                    self.consider(
                        value,
                        Location(source.path, source.key_of(ref.target)),
                        name=ref.target,
                        group=(source.path, ""),
                        hints=(sp.recognize_env_name(ref.target), ref.hint),
                        force=True,
                    )
                else:
                    self.notes.append(
                        f"{ref.path}: {ref.key} refers to ${{{ref.target}}}, which is not set "
                        "in any environment or dotenv file clawback could read"
                    )
            elif ref.source == "file":
                fp = self.resolve_file_reference(ref)
            else:
                self.notes.append(
                    f"{ref.path}: {ref.key} is stored externally ({ref.source} SecretRef "
                    f"{ref.target}); clawback cannot see or rotate it from here"
                )
            resolved.append(SecretReference(ref.path, ref.key, ref.source, ref.target, fp))
        return resolved

    def resolve_file_reference(self, ref: PendingReference) -> str | None:
        provider, _, pointer = ref.target.partition(":")
        spec = self.file_secret_sources.get(provider)
        if not isinstance(spec, dict) or spec.get("source") != "file" or not spec.get("path"):
            self.notes.append(
                f"{ref.path}: {ref.key} uses secrets provider {provider!r}, "
                "which no config defines as a file provider"
            )
            return None
        path = expand_user(str(spec["path"]), self.user_home)
        text = self.read_text(path, MAX_CONFIG_BYTES)
        if text is None:
            return None
        if spec.get("mode") == "singleValue":
            value, key = text.strip(), ""
        else:
            try:
                node: Any = _decode_json5(text)
            except _ParseError:
                return None
            segments = [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]
            for segment in segments:
                node = node.get(segment) if isinstance(node, dict) else None
            if not isinstance(node, str):
                return None
            value, key = node, format_key_path(segments)
        self.consider(
            value,
            Location(str(path), key),
            name=key.rsplit(".", 1)[-1] or "secret",
            group=(str(path),),
            hints=(ref.hint,),
            force=True,
        )
        return fingerprint(value)

    def credentials(self) -> tuple[Credential, ...]:
        pairs, tokens = self.pair_aws()
        twilio = self.pair_twilio()
        by_value: dict[str, list[Sighting]] = defaultdict(list)
        for sighting in self.sightings:
            by_value[sighting.value].append(sighting)
        credentials: list[Credential] = []
        for value, sightings in by_value.items():
            recognition, key_id = self.best_recognition(sightings, pairs)
            kinds = {
                s.recognition.kind
                for s in sightings
                if s.recognition.confidence >= Confidence.LOCATION
            }
            if len(kinds) > 1:
                self.notes.append(
                    f"the same secret {fingerprint(value)} is used as {', '.join(sorted(kinds))}"
                )
            accounts = {s.account for s in sightings if s.account}
            beside = next((twilio[id(s)] for s in sightings if id(s) in twilio), None)
            if beside is not None and recognition.provider == "twilio":
                key_id = beside[0] or key_id
                accounts = accounts or ({beside[1]} if beside[1] else set())
            companions = next((tokens[id(s)] for s in sightings if id(s) in tokens), {})
            credentials.append(
                Credential.from_secret(
                    recognition.provider,
                    recognition.kind,
                    value,
                    (s.location for s in sightings),
                    key_id=key_id,
                    account=accounts.pop() if len(accounts) == 1 else None,
                    companions=companions,
                )
            )
        credentials.sort(key=lambda c: (c.provider, c.kind, c.key_id or "", c.fingerprint))
        return tuple(credentials)

    def pair_aws(self) -> tuple[dict[int, str], dict[int, dict[str, str]]]:
        """Which AWS key id (and session token) goes with which secret sighting.

        Within one place (a file, an INI section, a JSON object), an id and a secret pair when
        their names have the same stem; a place with one id and one secret pairs them whatever
        their names. Anything else stays unpaired, with a note: a secret with the wrong id
        would have the wrong key revoked and the live one never looked at.
        """
        ids: dict[int, str] = {}
        tokens: dict[int, dict[str, str]] = {}
        by_group: dict[tuple[str, ...], list[Sighting]] = defaultdict(list)
        for sighting in self.sightings:
            by_group[sighting.group].append(sighting)
        for group, members in by_group.items():
            secrets = [s for s in members if s.recognition.kind in _AWS_SECRET_KINDS]
            session_tokens = [s for s in members if s.recognition.kind == "aws:session_token"]
            found = [(n, i) for n, i in self.aws_ids.get(group, []) if _id_provider(i) == "aws"]
            if not secrets:
                continue
            for secret in secrets:
                stem = _pair_stem(secret.name)
                same = [key_id for name, key_id in found if _pair_stem(name) == stem]
                if len(same) == 1:
                    ids[id(secret)] = same[0]
                same_tokens = [t for t in session_tokens if _pair_stem(t.name) == stem]
                if len(same_tokens) == 1:
                    tokens[id(secret)] = {"session_token": same_tokens[0].value}
            unpaired = [s for s in secrets if id(s) not in ids]
            if len(found) == 1 and len(secrets) == 1 and unpaired:
                ids[id(unpaired[0])] = found[0][1]
            elif unpaired and found:
                for secret in unpaired:
                    self.notes.append(
                        f"{secret.location}: an AWS secret whose key id cannot be told apart "
                        f"from {len(found)} key ids beside it (names that do not pair up); "
                        "find its key id in IAM by hand"
                    )
            if len(secrets) == 1 and len(session_tokens) == 1 and id(secrets[0]) not in tokens:
                tokens[id(secrets[0])] = {"session_token": session_tokens[0].value}
        return ids, tokens

    def pair_twilio(self) -> dict[int, tuple[str | None, str | None]]:
        """(API key SID, account SID) of each Twilio secret sighting, where its place says.

        An API key's secret pairs with the ``SK…`` SID whose name has the same stem
        (TWILIO_API_KEY with TWILIO_API_SECRET), or with the only SID beside it; every Twilio
        secret in a place with exactly one ``AC…`` account SID belongs to that account.
        """
        paired: dict[int, tuple[str | None, str | None]] = {}
        for sighting in self.sightings:
            if sighting.recognition.provider != "twilio":
                continue
            ids = self.aws_ids.get(sighting.group, [])
            keys = [(n, i) for n, i in ids if i.startswith("SK") and _id_provider(i) == "twilio"]
            accounts = {i for _, i in ids if i.startswith("AC") and _id_provider(i) == "twilio"}
            key_sid = None
            if sighting.recognition.kind == "twilio:api_key_secret":
                stem = _pair_stem(sighting.name)
                same = [i for n, i in keys if _pair_stem(n) == stem]
                key_sid = same[0] if len(same) == 1 else (keys[0][1] if len(keys) == 1 else None)
            account = accounts.pop() if len(accounts) == 1 else None
            if key_sid or account:
                paired[id(sighting)] = (key_sid, account)
        return paired

    def best_recognition(
        self, sightings: Sequence[Sighting], pairs: Mapping[int, str] | None = None
    ) -> tuple[Recognition, str | None]:
        counts = Counter(s.recognition.kind for s in sightings)
        best = max(
            sightings,
            key=lambda s: (
                s.recognition.confidence,
                s.recognition.provider != sp.UNKNOWN,
                counts[s.recognition.kind],
                s.recognition.kind,
            ),
        ).recognition
        key_id = best.key_id or next(
            (s.recognition.key_id for s in sightings if s.recognition.key_id), None
        )
        if best.provider == "aws" and best.kind == "aws:access_key":
            pairs = self.pair_aws()[0] if pairs is None else pairs
            paired = next((pairs[id(s)] for s in sightings if id(s) in pairs), None)
            if paired is not None:
                key_id = paired
                if paired.startswith("ASIA"):
                    best = Recognition("aws", "aws:session", best.confidence)
        return best, key_id
