"""Testing helpers for users' own ops: Hypothesis strategies (needs the `test` extra)."""
