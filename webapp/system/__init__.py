"""System status: /livez and /readyz (JSON) and the live status page (round trips over a websocket)."""
