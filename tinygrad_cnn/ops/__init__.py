"""The math of every op: one Function subclass and one lowercase function each, grouped by kind."""
