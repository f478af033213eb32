"""Fixtures shared by the lmcore tests: hermetic, CPU-only, small corpora made on the spot.

This file is shared by several test modules: add fixtures with small edits.
"""
