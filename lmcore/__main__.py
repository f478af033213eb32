"""`python -m lmcore ...`: see lmcore.cli."""

from lmcore.cli import main

raise SystemExit(main())
