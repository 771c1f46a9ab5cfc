"""clawback's entry points come from its index while the installed distributions are unchanged,
and from the metadata again whenever anything the answer depends on may have changed."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clawback import entry_point_index
from clawback.entry_point_index import entry_points, index_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """One item per reading of the installed metadata; a fresh process each time."""
    seen: list[str] = []
    real = entry_point_index._from_metadata

    def recording() -> Any:
        seen.append("metadata")
        return real()

    monkeypatch.setattr(entry_point_index, "_from_metadata", recording)
    entry_point_index._groups.cache_clear()
    yield seen
    entry_point_index._groups.cache_clear()


def _names(group: str = "clawback.responders") -> dict[str, str]:
    """The group as a new process would read it, then writing the index as a real run does."""
    entry_point_index._groups.cache_clear()
    names = {point.name: point.value for point in entry_points(group)}
    entry_point_index.remember()
    return names


def test_only_a_run_that_may_write_writes_the_index(reads: list[str]) -> None:
    entry_points("clawback.responders")
    assert not index_path().exists()  # reading writes nothing (a dry run, discover, verify)
    entry_point_index.remember()
    assert index_path().is_file()


def _metadata(group: str = "clawback.responders") -> dict[str, str]:
    return {p.name: p.value for p in importlib.metadata.entry_points().select(group=group)}


def test_the_index_answers_as_the_metadata_does(reads: list[str]) -> None:
    for group in ("clawback.responders", "clawback.agents", "clawback.host", "clawback.remote"):
        assert _names(group) == _metadata(group) != {}
    assert reads == ["metadata"], "the index was not used after the first reading"
    assert (index_path().stat().st_mode & 0o777) == 0o600
    point = next(iter(entry_points("clawback.host")))
    assert point.load() is importlib.metadata.entry_points().select(
        group="clawback.host")[point.name].load()


def _distribution(where: Path, value: str) -> Path:
    info = where / "clawback_extra-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clawback-extra\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[clawback.responders]\nextra = {value}\n")
    return info


def test_a_distribution_installed_edited_or_removed_is_seen(
        reads: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = _names()
    assert "extra" not in before
    info = _distribution(site, "extra_pkg:Responder")
    assert _names()["extra"] == "extra_pkg:Responder" == _metadata()["extra"]
    (info / "entry_points.txt").write_text(
        "[clawback.responders]\nextra = extra_pkg.v2:Responder\n")
    os.utime(info / "entry_points.txt", ns=(1, 1))  # even with its mtime set back
    assert _names()["extra"] == "extra_pkg.v2:Responder" == _metadata()["extra"]
    (info / "entry_points.txt").unlink()
    (info / "METADATA").unlink()
    info.rmdir()
    assert "extra" not in _names()
    assert len(reads) == 4
    assert _names() == before and len(reads) == 4


@pytest.mark.parametrize("spoil", ["garbage", "group-writable", "forged-groups", "directory"])
def test_an_index_that_cannot_be_trusted_means_reading_the_metadata(
        reads: list[str], spoil: str) -> None:
    expected = _names()
    index = index_path()
    if spoil == "garbage":
        index.write_text("{not json")
    elif spoil == "group-writable":
        os.chmod(index, 0o620)
    elif spoil == "forged-groups":
        text = index.read_text().replace('"clawback.responders"', '"clawback.responders", "x": 1')
        index.write_text(text)
    else:
        index.unlink()
        index.mkdir()
    assert _names() == expected
    assert len(reads) == 2


def test_an_index_owned_by_someone_else_is_ignored(reads: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the index to another user")
    _names()
    os.chown(index_path(), 65534, 65534)
    _names()
    assert len(reads) == 2


def test_a_finder_that_provides_distributions_means_reading_the_metadata(
        reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Finder:
        @staticmethod
        def find_spec(*args: Any) -> None:
            return None

        @staticmethod
        def find_distributions(*args: Any) -> list[Any]:
            return []

    _names()
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    _names()
    _names()
    assert len(reads) == 3


def test_an_entry_point_loads_its_attribute_path() -> None:
    point = entry_point_index.IndexedEntryPoint(
        "x", "os.path : join [extra]", "clawback.responders")
    assert point.module == "os.path" and point.attr == "join"
    assert point.load() is os.path.join
    with pytest.raises(ValueError, match="only clawback"):
        entry_points("console_scripts")


def test_other_files_appearing_beside_the_distributions_keep_the_index(
        reads: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `python -m clawback` puts the working directory on sys.path: files come and go there
    # (an incident's notes, a pid file) without any distribution changing.
    site = tmp_path / "cwd"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = _names()
    (site / "notes.txt").write_text("x")
    (site / "gateway.pid").write_text("1")
    assert _names() == before
    assert reads == ["metadata"], "a file that is no distribution made the index stale"
