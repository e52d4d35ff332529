"""Read support-bundle zips and unpacked folders safely, never extracting anything to disk.

A bundle comes from outside, so it is read as hostile input:

- A zip is validated as a whole before any member is read: every member name must be a
  plain relative path (no ``..`` segment, no absolute or drive path, no backslash, no NUL),
  the declared sizes must stay under the inflation budget, no member may inflate more than
  ``max_ratio`` times once it is over 1 MiB, and the member count is bounded.
- Declared sizes can lie, so every read is chunked and stops at the limit it was given;
  every inflated byte also counts against one shared ``Budget`` so nested node archives
  cannot together inflate past ``max_total_bytes``.
- A folder is walked without following symbolic links; a link that points outside the
  folder is refused (reading it raises ``MemberError``), and only regular files are read.

``ArchiveError`` means the archive as a whole is unusable or unsafe (the caller decides
whether that is fatal); ``MemberError`` means one member cannot be used and the rest can.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import stat
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.sources.limits import Limits, MiB

RATIO_MIN_BYTES = 1 * MiB  # small members may compress well without being bombs
CHUNK = 256 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# What a corrupt deflate/bzip2/lzma stream or a bad CRC raises inside zipfile.
_CORRUPT = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError)


class ArchiveError(Exception):
    """The archive as a whole is unsafe or unreadable; nothing in it should be used."""


class MemberError(Exception):
    """One member cannot be used (too large, unreadable, refused); the rest can."""


@dataclass
class Budget:
    """Bytes that may be inflated during one scan, shared by the bundle and nested archives."""

    limit: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def take(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise ArchiveError(f"inflates past the {self.limit}-byte limit; refusing to read on")


def unsafe_name(name: str) -> bool:
    """True if an archive member name could escape the folder it is unpacked into."""
    if not name or "\x00" in name or "\\" in name:
        return True
    if name.startswith("/") or _DRIVE.match(name):
        return True
    return any(part == ".." for part in name.split("/"))


class Tree(ABC):
    """Files of a bundle, by relative POSIX path, whatever holds them."""

    @abstractmethod
    def names(self) -> list[str]:
        """Every file (not directory) path, sorted."""

    @abstractmethod
    def read(self, name: str, *, limit: int) -> bytes:
        """The whole file; MemberError if it is larger than ``limit`` bytes."""

    @abstractmethod
    def read_tail(self, name: str, *, limit: int) -> bytes:
        """The last ``limit`` bytes of the file (all of it if smaller)."""

    def refused(self) -> dict[str, str]:
        """Entries that were not listed at all (e.g. linked folders), with the reason."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook, most trees hold nothing open
        """Release what the tree holds open."""


class ZipTree(Tree):
    """A validated zip archive, read member by member in memory."""

    def __init__(self, zf: zipfile.ZipFile, *, limits: Limits, budget: Budget) -> None:
        self._zf = zf
        self._budget = budget
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise ArchiveError(
                f"has {len(infos)} entries, over the {limits.max_entries}-entry limit"
            )
        total = 0
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if unsafe_name(info.orig_filename) or unsafe_name(info.filename):
                raise ArchiveError(
                    f"archive entry {info.orig_filename!r} escapes the bundle folder; "
                    "refusing to read it"
                )
            total += info.file_size
            if info.file_size > RATIO_MIN_BYTES and (
                info.file_size > limits.max_ratio * max(info.compress_size, 1)
            ):
                raise ArchiveError(
                    f"archive entry {info.filename!r} inflates to {info.file_size} bytes from "
                    f"{info.compress_size}, over the {limits.max_ratio}:1 ratio limit "
                    "(a zip bomb?); refusing to read it"
                )
            mode = info.external_attr >> 16
            if info.is_dir() or stat.S_ISLNK(mode):
                continue  # links are never followed; their text is no bundle content
            self._members[info.filename] = info
        if total > budget.remaining:
            raise ArchiveError(f"inflates to {total} bytes, over the {budget.remaining}-byte limit")

    def names(self) -> list[str]:
        return sorted(self._members)

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self._members.get(name)
        if info is None:
            raise MemberError("no such archive entry")
        if info.flag_bits & 0x1:
            raise MemberError("archive entry is encrypted")
        return info

    def read(self, name: str, *, limit: int) -> bytes:
        info = self._info(name)
        if info.file_size > limit:
            raise MemberError(f"{info.file_size} bytes is over the {limit}-byte limit")
        out = bytearray()
        for chunk in self._stream(name, info):
            out += chunk
            if len(out) > limit:  # the declared size lied
                raise MemberError(f"inflates past the {limit}-byte limit")
        return bytes(out)

    def read_tail(self, name: str, *, limit: int) -> bytes:
        info = self._info(name)
        out = bytearray()
        for chunk in self._stream(name, info):
            out += chunk
            if len(out) > 2 * limit:
                del out[:-limit]
        return bytes(out[-limit:]) if limit else b""

    def _stream(self, name: str, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """Inflate ``info`` chunk by chunk, charging every chunk to the budget."""
        try:
            with self._zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    self._budget.take(len(chunk))
                    yield chunk
        except (NotImplementedError, RuntimeError) as e:  # unsupported method, password
            raise MemberError(f"cannot be read: {e}") from e
        except _CORRUPT as e:
            raise ArchiveError(f"archive entry {name!r} is corrupt: {e}") from e

    def close(self) -> None:
        self._zf.close()


class FolderTree(Tree):
    """An unpacked bundle folder; symbolic links never lead out of it."""

    def __init__(self, root: Path, *, limits: Limits) -> None:
        self._root = root.resolve()
        self._files: dict[str, str | None] = {}  # name -> refusal reason, None if readable
        self._refused_dirs: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(self._root, onerror=self._walk_error):
            here = Path(dirpath)
            for d in list(dirnames):
                if (here / d).is_symlink():
                    dirnames.remove(d)  # os.walk would not descend anyway; say why
                    if not self._inside(here / d):
                        self._refused_dirs[self._rel(here / d)] = _OUTSIDE
            for f in filenames:
                self._files[self._rel(here / f)] = self._refusal(here / f)
                if len(self._files) > limits.max_entries:
                    raise ArchiveError(f"has more than {limits.max_entries} files")

    def _walk_error(self, error: OSError) -> None:
        where = Path(error.filename) if error.filename else self._root
        self._refused_dirs[self._rel(where)] = f"cannot be listed: {error.strerror or error}"

    def _rel(self, path: Path) -> str:
        rel = path.relative_to(self._root).as_posix()
        return rel if rel != "." else ""

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self._root)
        except (OSError, RuntimeError):  # a link loop resolves to nothing
            return False

    def _refusal(self, path: Path) -> str | None:
        if path.is_symlink() and not self._inside(path):
            return _OUTSIDE
        try:
            mode = path.stat().st_mode
        except OSError as e:
            return f"cannot be read: {e.strerror or e}"
        return None if stat.S_ISREG(mode) else "not a regular file"

    def names(self) -> list[str]:
        return sorted(self._files)

    def refused(self) -> dict[str, str]:
        return dict(self._refused_dirs)

    def _open(self, name: str) -> tuple[io.BufferedReader, int]:
        if name not in self._files:
            raise MemberError("no such file")
        reason = self._files[name]
        if reason:
            raise MemberError(reason)
        try:
            fh = (self._root / name).open("rb")
            size = os.fstat(fh.fileno()).st_size
        except OSError as e:
            raise MemberError(f"cannot be read: {e.strerror or e}") from e
        return fh, size

    def read(self, name: str, *, limit: int) -> bytes:
        fh, size = self._open(name)
        with fh:
            if size > limit:
                raise MemberError(f"{size} bytes is over the {limit}-byte limit")
            try:
                data = fh.read(limit + 1)
            except OSError as e:
                raise MemberError(f"cannot be read: {e.strerror or e}") from e
        if len(data) > limit:  # grew while we read it
            raise MemberError(f"over the {limit}-byte limit")
        return data

    def read_tail(self, name: str, *, limit: int) -> bytes:
        fh, size = self._open(name)
        with fh:
            try:
                fh.seek(max(0, size - limit))
                return fh.read(limit)
            except OSError as e:
                raise MemberError(f"cannot be read: {e.strerror or e}") from e


_OUTSIDE = "symbolic link points outside the bundle folder; not followed"


def open_zip(source: Path | bytes, *, limits: Limits, budget: Budget) -> ZipTree:
    """Open and validate a zip file or in-memory zip; ArchiveError if unusable."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
        raise ArchiveError(f"not a readable zip archive ({e})") from e
    except OSError as e:
        raise ArchiveError(f"cannot be read: {e.strerror or e}") from e
    try:
        return ZipTree(zf, limits=limits, budget=budget)
    except ArchiveError:
        zf.close()
        raise


def open_tree(path: Path, *, limits: Limits, budget: Budget) -> Tree:
    """A folder or zip file as a Tree; ArchiveError if it is missing, unreadable or unsafe."""
    if not path.exists():
        raise ArchiveError("no such file or folder")
    if path.is_dir():
        try:
            return FolderTree(path, limits=limits)
        except OSError as e:
            raise ArchiveError(f"cannot be read: {e.strerror or e}") from e
    if not path.is_file():  # a FIFO or device would block or never end
        raise ArchiveError("is neither a zip file nor a folder")
    return open_zip(path, limits=limits, budget=budget)
