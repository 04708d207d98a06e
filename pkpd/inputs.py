"""Reading user input files safely: regular files only, a size cap, UTF-8 with or without a BOM.

Every scenario, model, event, covariate and concentration file goes through :func:`read_text`:

* a FIFO, a device (``/dev/zero``), a socket or a folder is refused before anything is read
  (opening a FIFO would wait for a writer for ever; a device never ends);
* a file larger than its limit (:mod:`pkpd.limits`: ``toml_bytes``, ``csv_bytes``) is refused
  with its size, the limit and the variable that raises it;
* a UTF-8 byte-order mark (files saved by Excel) is dropped, so the first column keeps its name.

A base module: it imports only :mod:`pkpd.errors` and :mod:`pkpd.limits`.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from pkpd.errors import PkpdError
from pkpd.limits import LIMITS, human_bytes, limit

_KIND = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def read_bytes(path, what: str = "file", cap: str = "csv_bytes") -> bytes:
    """The bytes of the regular file ``path`` (at most limit ``cap``); PkpdError otherwise."""
    p = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then sees what it is
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise PkpdError(f"{what} not found", file=p) from None
    except IsADirectoryError:
        raise PkpdError(f"{what} is a folder, not a file", file=p) from None
    except OSError as e:
        raise PkpdError(f"cannot read {what}: {e.strerror or e}", file=p) from None
    except ValueError:  # an embedded NUL
        raise PkpdError(f"the {what} name contains a NUL character", file=repr(p)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KIND.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise PkpdError(f"{what} is {kind}; give a regular file", file=p)
        max_bytes = int(limit(cap))
        if st.st_size > max_bytes:
            raise PkpdError(f"{what} is {human_bytes(st.st_size)}, above the limit of {human_bytes(max_bytes)}; "
                            f"raise it with {LIMITS[cap].env}=SIZE if the file is right", file=p)
        chunks, total = [], 0
        while True:  # read at most one byte past the cap: a file growing while read is still bounded
            b = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > max_bytes:
                raise PkpdError(f"{what} grew above the limit of {human_bytes(max_bytes)} while being read", file=p)
        return b"".join(chunks)
    except OSError as e:
        raise PkpdError(f"cannot read {what}: {e.strerror or e}", file=p) from None
    finally:
        os.close(fd)


def read_text(path, what: str = "file", cap: str = "csv_bytes") -> str:
    """The text of ``path`` decoded as UTF-8, a leading byte-order mark removed."""
    data = read_bytes(path, what, cap)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PkpdError(f"{what} is not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8 (CSV UTF-8 in "
                        f"Excel)", file=str(path)) from None


def is_regular_file(path) -> bool:
    """True for an existing regular file (no FIFO, device or folder); never blocks."""
    try:
        return stat.S_ISREG(os.stat(Path(path)).st_mode)
    except (OSError, ValueError):
        return False
