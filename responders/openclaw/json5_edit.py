"""Key paths and JSON5 documents edited in place: json-five's round-trip model changes one
string or list item and keeps the comments and layout around it.

json-five's parser is pure Python and slow (~40 ms for the demo's openclaw.json), and one
contain edits the same config once per secret it rotates and once more to lock it down: each
edit read back the text the previous one wrote and parsed it again (13 parses in the demo, ~6%
of its contain CPU, issue 20). So a document whose edits changed only string values keeps its
model for the exact text it dumped, and the next document made from exactly that text takes it
instead of parsing. Nothing else is trusted: the agent's file is still read (and its identity
checked by ``responders.agent_files``) before every edit, a file that changed in between reads
as another text and is parsed afresh, and a kept model is handed out once (the document that
takes it owns it). After a string-only edit the model is the one a fresh parse of its dump
would give, down to every character the dumper writes: a string node is written from its
``raw_value``, which the edit sets to exactly the text that stands in the dump.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from responders.openclaw.layout import Json5Error, decode_json5

Segment = str | int
KeyPath = tuple[Segment, ...]

_KEY_SEGMENT = re.compile(r'\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.\[\]"\s]+)')


def parse_key_path(key: str) -> KeyPath | None:
    """``profiles["a b"].key[0]`` → ``("profiles", "a b", "key", 0)``; None if malformed."""
    segments: list[Segment] = []
    position = 0
    while position < len(key):
        match = _KEY_SEGMENT.match(key, position)
        if match is None or match.end() == position:
            return None
        if match.group(1) is not None:
            segments.append(int(match.group(1)))
        elif match.group(2) is not None:
            segments.append(json.loads(match.group(2)))
        else:
            segments.append(match.group(3))
        position = match.end()
    return tuple(segments) if segments else None


def value_at(data: Any, path: KeyPath) -> Any:
    for segment in path:
        if not isinstance(data, list | dict):
            return None
        try:
            data = data[segment]  # type: ignore[index]
        except (IndexError, KeyError, TypeError):
            return None
    return data


def strings_in(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from strings_in(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from strings_in(value)


class Unparseable(Exception):
    """A file that should parse does not; the message never quotes the file's content."""


class _KeptModels:
    """Round-trip models by the exact text each dumps to; each one is handed out once."""

    # A contain edits a handful of small configs: a model costs far more memory than its text,
    # so a big file's is not kept, and only the latest few are.
    LIMIT = 16
    MAX_TEXT = 256 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_text: OrderedDict[str, Any] = OrderedDict()

    def take(self, text: str) -> Any | None:
        with self._lock:
            return self._by_text.pop(text, None)

    def keep(self, text: str, model: Any) -> None:
        if len(text) > self.MAX_TEXT:
            return
        with self._lock:
            self._by_text[text] = model
            while len(self._by_text) > self.LIMIT:
                self._by_text.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._by_text.clear()

    def count_parse(self) -> None:
        with self._lock:  # several threads edit files at once
            Json5Document.parses += 1


_KEPT = _KeptModels()


def forget_kept_models() -> None:
    """Every edit from now on parses its text afresh (tests compare the two)."""
    _KEPT.clear()


class Json5Document:
    """A JSON or JSON5 text whose string values and list items can change, comments kept.

    ``dump`` ends the document's edits: after it, the model may belong to the next document
    made from the dumped text (see the module's docstring).
    """

    # How many texts json-five has parsed in this process (tests count them).
    parses = 0

    def __init__(self, text: str) -> None:
        from json5.loader import ModelLoader, loads

        # Only string values changed since the text was parsed: the model stays a fresh parse's.
        self._strings_only = True
        self._dumped: str | None = None
        kept = _KEPT.take(text)
        if kept is not None:
            self._model = kept
            return
        _KEPT.count_parse()
        try:
            self._model = loads(text, loader=ModelLoader())
        except Exception:  # json-five raises its own errors, which quote the text
            raise Unparseable("not valid JSON5") from None

    def dump(self) -> str:
        from json5.dumper import ModelDumper

        if self._dumped is not None:
            return self._dumped
        # What json5.dumps does, without passing a ModelDumper where its signature says
        # BaseDumper (json-five 1.1 annotates it so, though ModelDumper is no BaseDumper).
        dumper = ModelDumper()
        dumper.dump(self._model)
        dumper.env.outfile.seek(0)
        self._dumped = dumper.env.outfile.read()
        if self._strings_only:
            _KEPT.keep(self._dumped, self._model)
        return self._dumped

    def _editing(self, *, structure: bool = False) -> None:
        if self._dumped is not None:
            raise RuntimeError("a dumped Json5Document is not edited any more")
        if structure:
            # A fresh parse of the dump may attach whitespace and comments to other nodes.
            self._strings_only = False

    @staticmethod
    def _key_name(key: Any) -> str:
        name = getattr(key, "name", None)
        return str(name if name is not None else key.characters)

    def _strings(self, node: Any) -> Iterator[Any]:
        from json5 import model

        if isinstance(node, model.String):
            yield node
        elif isinstance(node, model.JSONObject | model.JSONArray):
            for value in node.values:
                yield from self._strings(value)

    def replace_strings(self, old: str, new: str) -> int:
        """Every string value equal to ``old`` becomes ``new``; how many there were."""
        self._editing()
        count = 0
        for node in self._strings(self._model.value):
            if node.characters == old:
                # In place, so the whitespace and comments attached to the node stay.
                node.characters = new
                node.raw_value = json.dumps(new)
                count += 1
        return count

    def _node(self, path: KeyPath) -> Any:
        from json5 import model

        node = self._model.value
        for segment in path:
            if isinstance(node, model.JSONObject) and isinstance(segment, str):
                index = self._member(node, segment)
                if index is None:
                    return None
                node = node.values[index]
            elif isinstance(node, model.JSONArray) and isinstance(segment, int):
                if not 0 <= segment < len(node.values):
                    return None
                node = node.values[segment]
            else:
                return None
        return node

    def _member(self, node: Any, name: str) -> int | None:
        for index, key in enumerate(node.keys):
            if self._key_name(key) == name:
                return index
        return None

    def set_string(self, path: KeyPath, value: str) -> bool:
        from json5 import model

        self._editing()
        node = self._node(path)
        if not isinstance(node, model.String):
            return False
        node.characters = value
        node.raw_value = json.dumps(value)
        return True

    def remove_member(self, path: KeyPath) -> bool:
        from json5 import model

        self._editing(structure=True)
        if not path or not isinstance(path[-1], str):
            return False
        parent = self._node(path[:-1])
        if not isinstance(parent, model.JSONObject):
            return False
        index = self._member(parent, path[-1])
        if index is None:
            return False
        del parent.keys[index]
        del parent.values[index]
        return True

    def ensure_items(self, path: KeyPath, values: Sequence[str]) -> bool:
        """The list at ``path`` holds every one of ``values`` (appended in order), creating
        the list and any missing object on the way; False if something else is in the way."""
        from json5 import model

        self._editing(structure=True)
        node = self._model.value
        for depth, segment in enumerate(path):
            if not isinstance(node, model.JSONObject) or not isinstance(segment, str):
                return False
            index = self._member(node, segment)
            if index is None:
                last = depth == len(path) - 1
                child: Any = model.JSONArray() if last else model.JSONObject()
                self._add_member(node, segment, child)
                node = child
            else:
                node = node.values[index]
        if not isinstance(node, model.JSONArray):
            return False
        present = {v.characters for v in node.values if isinstance(v, model.String)}
        for value in values:
            if value not in present:
                node.values.append(model.DoubleQuotedString(value, json.dumps(value)))
        return True

    @staticmethod
    def _add_member(node: Any, name: str, value: Any) -> None:
        """Append ``name: value``, quoted and indented like the members already there."""
        from json5 import model

        quoted = bool(node.keys) and not isinstance(node.keys[-1], model.Identifier)
        key = model.DoubleQuotedString(name, json.dumps(name)) if quoted else model.Identifier(
            name, name)
        if node.keys:
            key.wsc_before = list(node.keys[-1].wsc_before)
            last = node.values[-1]
            value.wsc_after, last.wsc_after = list(last.wsc_after), []
        value.wsc_before = [" "]
        node.keys.append(key)
        node.values.append(value)

    def remove_items(self, path: KeyPath, value: str) -> int:
        """Drop the string items equal to ``value`` from the list at ``path``."""
        from json5 import model

        self._editing(structure=True)
        node = self._node(path)
        if not isinstance(node, model.JSONArray):
            return 0
        kept = [
            v for v in node.values if not (isinstance(v, model.String) and v.characters == value)
        ]
        removed = len(node.values) - len(kept)
        node.values[:] = kept
        return removed


def parse_json5(text: str) -> Any:
    try:
        return decode_json5(text)
    except Json5Error:
        raise Unparseable("not valid JSON5") from None


def describe_path(path: KeyPath) -> str:
    from responders.openclaw.config_load import format_key_path

    return format_key_path(path) if path else "(unknown key)"
