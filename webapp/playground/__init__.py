"""Playground: Generate with streamed token probabilities, and score any text."""
