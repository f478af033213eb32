"""Training: Train GPT models and watch their loss fall live."""
