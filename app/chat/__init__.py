"""Chainlit-facing layer: turns pipeline events into steps and messages, and handles uploads."""
