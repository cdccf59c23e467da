"""Reproducible archives: a .tar.gz whose bytes depend only on the files' paths and contents."""

from __future__ import annotations

import gzip
import io
import tarfile


def tgz_bytes(files: dict[str, bytes], root: str) -> bytes:
    """`root/<path>` entries, sorted, folders included, mtime 0, root-owned, fixed modes; gzip header
    without name or time."""
    folders = {root}
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add(f"{root}/{'/'.join(parts[:i])}")
    entries = [(f, None) for f in folders] + [(f"{root}/{p}", data) for p, data in files.items()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return out.getvalue()
