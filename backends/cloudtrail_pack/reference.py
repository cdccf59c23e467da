# Temporary: the reference engine moved to cloudtrail_pack.engine.reference.
from .engine.reference import *  # noqa: F401,F403
from .engine.reference import Alert, ReferenceEngine, Verdict  # noqa: F401
