"""Evaluators that run the text of compiled queries over CloudTrail records."""
