"""Evaluators that run the text of compiled queries over CloudTrail records: one module per language, each with
its own grammar and semantics; what their parsers share is in syntax.py, what they read out of records alike in
values.py."""
