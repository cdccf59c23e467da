"""Print a short key of what `pip install -e '.[test]'` depends on in pyproject.toml: the project's
dependencies, optional dependencies, entry points and the build settings. The Makefile names its install
stamp after it, so a change elsewhere in the file (the version) does not reinstall, and reach the network.

Runs on the interpreter that creates the venv, before anything is installed: standard library only.
"""

import hashlib
import json
import sys

try:
    import tomllib
except ImportError:  # Python 3.10: no TOML parser in the standard library; key the whole file
    tomllib = None

path = sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"
with open(path, "rb") as handle:
    raw = handle.read()
if tomllib is None:
    print(hashlib.sha256(raw).hexdigest()[:16])
else:
    doc = tomllib.loads(raw.decode("utf-8"))
    project = doc.get("project", {})
    keyed = {
        "build-system": doc.get("build-system"),
        "dependencies": project.get("dependencies"),
        "optional-dependencies": project.get("optional-dependencies"),
        "scripts": project.get("scripts"),
        "requires-python": project.get("requires-python"),
        "setuptools": doc.get("tool", {}).get("setuptools"),
    }
    print(hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16])
