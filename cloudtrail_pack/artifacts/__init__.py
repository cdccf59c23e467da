"""The release's writers, one folder each (`<writer>/__init__.py` and its `templates/`), and `common.py`, what they
share. Each writer follows `cloudtrail_pack.release.writer.Writer` (`NEEDS`, `write(release, out)`); the registry
(`cloudtrail_pack/registry.py`) lists them. No writer imports another.
"""
