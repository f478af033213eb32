"""Models: Keep, compare, promote and export model versions."""
