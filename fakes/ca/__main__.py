"""``python -m fakes.ca``: see :mod:`fakes.ca.server`."""

from .server import main

raise SystemExit(main())
