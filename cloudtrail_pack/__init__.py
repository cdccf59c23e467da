"""The CloudTrail detection pack: loading the rules, compiling them per target, writing release artifacts."""
