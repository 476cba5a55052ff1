"""Evaluation: the golden set run through the real answering pipeline under each routing
policy, scored mechanically (and optionally by a judge model), with router figures.

`python -m app.eval --help` for the command; `eval/golden.jsonl` for the cases.
"""
