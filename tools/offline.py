"""Run a command without network access: in a new network namespace that has only a loopback
interface, where the system allows one (unshare(1), as root or with unprivileged user namespaces), so
that neither the tests nor any process they start (terraform, sigma-cli, git) can reach the network.
Elsewhere the command runs as it is, with a note; the tests' in-process guard still refuses
connections. The environment variable CLOUDTRAIL_PACK_NETNS=1 tells the tests which case they are in.

    python tools/offline.py .venv/bin/python -m pytest -q
"""

import os
import shutil
import subprocess
import sys

command = sys.argv[1:]
if not command:
    sys.exit("usage: offline.py COMMAND [ARG ...]")
unshare = shutil.which("unshare")
if unshare and os.environ.get("CLOUDTRAIL_PACK_NETNS") != "1":
    enter = [unshare, "--net", "--map-root-user"]
    if subprocess.run([*enter, "true"], capture_output=True).returncode == 0:
        os.environ["CLOUDTRAIL_PACK_NETNS"] = "1"
        # bring the namespace's loopback up (for tests that use this machine); then run the command
        script = 'ip link set lo up 2>/dev/null || true; exec "$@"'
        os.execv(unshare, [*enter, "sh", "-c", script, "sh", *command])
if os.environ.get("CLOUDTRAIL_PACK_NETNS") != "1":
    print("offline.py: no network namespace here; only the tests' in-process guard refuses connections", file=sys.stderr)
os.execvp(command[0], command)
