"""Shared fixtures for the Splunk target: the app as shipped (built once per session) and an evaluator
that reads the macros.conf inside it."""

from __future__ import annotations

import io
import tarfile

import pytest

from release_helpers import release_for

from cloudtrail_pack.artifacts import splunk
from cloudtrail_pack.artifacts.splunk import APP_ID, write_splunk_app
from evaluators.spl import SplunkEvaluator, parse_conf


@pytest.fixture(scope="session")
def splunk_app(pack, tmp_path_factory):
    """Path of the app tarball, written by the writer as a release would."""
    return write_splunk_app(release_for(pack, splunk), tmp_path_factory.mktemp("splunk"))


@pytest.fixture(scope="session")
def app_members(splunk_app) -> dict[str, bytes]:
    """The tarball's files by path inside the app folder, read back from the .tgz."""
    out = {}
    with tarfile.open(splunk_app, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                assert member.name.startswith(APP_ID + "/")
                out[member.name[len(APP_ID) + 1 :]] = tar.extractfile(member).read()
    return out


@pytest.fixture(scope="session")
def savedsearches(app_members) -> dict[str, dict[str, str]]:
    return parse_conf(app_members["default/savedsearches.conf"].decode("utf-8"))


@pytest.fixture(scope="session")
def shipped_evaluator(app_members) -> SplunkEvaluator:
    return SplunkEvaluator.from_macros_conf(app_members["default/macros.conf"].decode("utf-8"))


def tar_listing(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()
