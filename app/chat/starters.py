"""Starter questions on the welcome screen; each is answered by a document in knowledge/."""

STARTERS: list[tuple[str, str]] = [
    ("Find the Foundry Local port", "How do I find the port Foundry Local is using?"),
    ("How big is gpt-oss-20b?", "How much memory does gpt-oss-20b need?"),
    ("How does AutoMix work?", "How does AutoMix work?"),
    ("Who sees my uploads?", "Who can see a file I upload?"),
]
