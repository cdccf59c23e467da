"""The Spark tests run on one xdist worker (conftest.py groups them): one JVM for the suite."""

from __future__ import annotations


def test_the_spark_tests_are_one_xdist_group(request):
    """pytest-xdist's --dist loadgroup reads the group from a suffix it adds to the test id; with a pytest whose
    ids it cannot change (https://github.com/pytest-dev/pytest-xdist/issues/1386) the grouping silently stops
    and every worker starts a JVM. pyproject.toml pins a pytest that works with the pinned pytest-xdist."""
    if not getattr(request.config.option, "loadgroup", False):
        return  # not run by xdist with --dist loadgroup: one process, one JVM
    assert request.node.nodeid.endswith("@spark"), (
        f"--dist loadgroup did not group the Spark tests ({request.node.nodeid} has no @spark suffix): this "
        "pytest-xdist does not work with this pytest; pin the pair that does in pyproject.toml"
    )
