"""`python -m app.eval.followups`: follow-up retrieval on the golden set, three ways."""
