"""Walking a PKI folder and reading its files safely: shared by the PKI folder source
(``bot.sources.pki``) and the node agent's inventory (``bot.sources.pki_inventory``).

The walk is recursive and sorted, never enters a symlinked folder, skips containerd's
image store and stops after a number of entries. A file is read only when it is a regular
file inside the folder (a symbolic link is followed only when its target stays inside)
and not larger than a cap; otherwise the reader says why, in words fit for a report.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# containerd's content store and snapshotters under agent/containerd hold container
# images (millions of files, no PKI): never walked.
_PRUNE = "io.containerd."


@dataclass
class WalkState:
    """What a walk did not descend into."""

    linked_dirs: int = 0
    stopped: bool = False  # the entry limit was hit


def walk_files(
    root: str, max_entries: int, state: WalkState, on_error: Callable[[str, str], None]
) -> Iterator[tuple[str, str]]:
    """Yield (relative posix path, absolute path) of every file under the real path
    ``root``, in sorted order, never descending into symlinked folders (counted in
    ``state``); ``on_error(rel, reason)`` hears of folders that cannot be listed."""
    # Plain strings and os.path: pathlib costs more than decoding on big folders.
    seen = 0

    def failed(e: OSError) -> None:
        rel = os.path.relpath(e.filename, root) if e.filename else "."
        on_error(rel, f"folder cannot be listed: {e.strerror or e}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=failed, followlinks=False):
        links = {n for n in dirnames if os.path.islink(os.path.join(dirpath, n))}
        state.linked_dirs += len(links)
        # os.walk descends only into what is left here, in this order.
        dirnames[:] = sorted(n for n in dirnames if n not in links and not n.startswith(_PRUNE))
        prefix = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in sorted(filenames):
            seen += 1
            if seen > max_entries:
                state.stopped = True
                return
            rel = name if prefix == "." else f"{prefix}/{name}"
            yield printable(rel), os.path.join(dirpath, name)


def printable(rel: str) -> str:
    """Names that are not UTF-8 arrive with surrogate escapes, which output cannot encode."""
    if rel.isascii():
        return rel
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_contained(file: str, *, root: str, cap: int) -> bytes | str:
    """The bytes of a regular file inside the real path ``root``, at most ``cap`` of them,
    or the reason it was not read (a symbolic link out of the folder, a FIFO, too big...)."""
    try:
        st = os.lstat(file)
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(file)
            if not os.path.exists(target):
                return "broken symbolic link; not read"
            if os.path.commonpath((root, target)) != root:
                return "symbolic link out of the folder; not read"
            st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):  # FIFOs and devices would block or never end
            return "not a regular file; not read"
        if st.st_size > cap:
            return f"{st.st_size} bytes is over the {cap}-byte limit"
        with open(file, "rb") as fh:
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:  # grew since stat: read on, up to the cap
                data += fh.read(cap + 1 - len(data))
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if len(data) > cap:
        return f"over the {cap}-byte limit"
    return data
