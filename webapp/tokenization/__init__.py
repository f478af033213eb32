"""Tokenizers: Train byte-level BPE tokenizers and inspect their vocabularies and merges."""
