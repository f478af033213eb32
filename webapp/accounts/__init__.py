"""Sign-in, sign-out and the first user (per-user ownership helpers arrive with owned objects)."""
