"""The release: compile the pack once (`context.prepare`), let every writer write its artifacts from those
results (`build.build`), and put the finished folder in place of `dist/` atomically (`publish`)."""

from .build import BuildResult, build
from .context import Release, ReleaseOptions, prepare

__all__ = ["BuildResult", "Release", "ReleaseOptions", "build", "prepare"]
