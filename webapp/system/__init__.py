"""System status: /healthz (JSON) and the live status page (round trips over a websocket)."""
