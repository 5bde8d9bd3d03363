"""``python -m aiotallyfy``: the same as the ``aiotallyfy`` console script."""

from .cli import main

raise SystemExit(main())
