"""`python -m lmcore anatomy`: the path from a text to the next-token distribution.

Prints one JSON object, the data the web app's anatomy page shows (`lmcore.anatomy.anatomy`):
`tokens` (id, text, bytes, special, loss = −ln p(token | before), nats, null for the first),
`layers` and `lens` (per position and layer: top-5 next ids and probabilities, the rank and
probability of the actual next token), `heads` (mean attention per layer and head to the
previous token, the first token, earlier copies of the token, the token after an earlier copy;
`roles`), `embeddings` (2-D PCA map, the tokens' places on it, nearest neighbours), `vocab`
(id -> text for every id mentioned), `loss` (mean over the scored tokens) and `focus` at
`--position` (default: the last token): every head's attention row, the final logits and the
token's embedding. Floats carry 4 decimals. `--json` prints it on one line; without it, the
same object is indented for reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lmcore.anatomy import anatomy_of_text
from lmcore.checkpoint import load_checkpoint
from lmcore.cli import emit
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.documents import bos_id_for


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("anatomy", help="attention, logit lens and more for one text")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--text", required=True, metavar="S")
    p.add_argument("--position", type=int, default=None, metavar="N",
                   help="token position the focus is on (0-based; default: the last)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one line of JSON (default: indented)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_anatomy)


def cmd_anatomy(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    tokenizer = checkpoint.tokenizer
    result = anatomy_of_text(
        checkpoint.model, tokenizer, args.text, position=args.position,
        bos_id=bos_id_for(checkpoint.train_config, tokenizer.special_tokens),
    )  # fmt: skip
    if args.json:
        emit(dict(result))
    else:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    return 0
