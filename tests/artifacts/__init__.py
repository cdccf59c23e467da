"""Tests of the release artifacts that belong to no target: the ATT&CK Navigator layer and the mitigation SCPs
(a package, as tests/cloudwatch and tests/splunk are, so that its modules have their own names)."""
