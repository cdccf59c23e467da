"""The SigmaHQ AWS CloudTrail rules as tests see them: a shared, read-only corpus beside the project,
`<repo>/../shared/corpus/sigmahq-aws/*.yml` (SigmaHQ/sigma rules/cloud/aws/cloudtrail, DRL 1.1), read in
place and never copied into the project."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "sigmahq-aws"
RULE_FILES = sorted(CORPUS.glob("*.yml")) if CORPUS.is_dir() else []

#: For a test module that reads the corpus (`pytestmark = needs_corpus`): skipped, saying where the corpus
#: was looked for, where it is missing.
needs_corpus = pytest.mark.skipif(not RULE_FILES, reason=f"SigmaHQ corpus not found at {CORPUS}")
