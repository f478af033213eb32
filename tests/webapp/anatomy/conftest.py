"""The playground's tiny checkpoint and versions serve the anatomy tests too."""

from tests.webapp.playground.conftest import (  # noqa: F401  (fixtures)
    _fresh_playground_state,
    media_root,
    tiny_checkpoint,
    version,
)
