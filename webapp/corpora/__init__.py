"""Corpora: Upload UTF-8 text, see it validated, previewed and measured."""
