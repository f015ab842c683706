"""Helpers the test suite shares, importable as `support.*` (pyproject puts tests/ on the path)."""
