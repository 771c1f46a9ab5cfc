"""Reading a rendered report.html back as a person sees it: text, by element, in order."""

from __future__ import annotations

from html.parser import HTMLParser


class _Text(HTMLParser):
    """Visible text of the body, and the text of each element that has an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self._open_ids: list[tuple[str, str]] = []  # (tag, id) of elements being read
        self._skip = 0
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script", "head"):
            self._skip += 1
        ident = dict(attrs).get("id")
        if ident:
            self._open_ids.append((tag, ident))
            self.by_id[ident] = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip -= 1
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.chunks.append(data)
        for _, ident in self._open_ids:
            self.by_id[ident].append(data)


def parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser


def visible_text(html: str) -> str:
    return " ".join(" ".join(parse(html).chunks).split())


def text_of(html: str, ident: str) -> str:
    return " ".join(" ".join(parse(html).by_id[ident]).split())
