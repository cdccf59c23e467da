"""How the tests hand a writer its input: a Release compiled for exactly what the writer NEEDS, with the registry's
targets, as the build would compile it (writers accept nothing else).

A pack the tests built (a copy with a changed rule, a rule made up for the test) may hold rules the version lock
does not know: they get version 1, where the build itself would refuse the pack until it is locked.
"""

from __future__ import annotations

from cloudtrail_pack.lock import locked_versions
from cloudtrail_pack.pack import Pack, PackError
from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.release.context import Release, ReleaseOptions, compile_release


def release_for(pack: Pack, *writers, options: ReleaseOptions | None = None, version: str | None = None) -> Release:
    """The Release `writers` (modules following release.writer.Writer) read: their NEEDS compiled for `pack`
    (local filters of `options` applied), the locked versions, the pack's version unless `version` is given."""
    options = options or ReleaseOptions()
    formats = [(TARGETS[target], output_format) for writer in writers for target, output_format in writer.NEEDS]
    formats = list(dict.fromkeys(formats))
    try:
        locked = locked_versions(pack)
    except PackError:
        locked = {}
    versions = {r.id: locked.get(r.id, 1) for r in pack.rules}
    targets = {target.name: target for target, _ in formats}
    compiled = compile_release(pack, formats, filters=options.filters)
    return Release(pack, version or pack.version, versions, compiled, targets, options)
