"""``python -m fakes.frontend``: see :mod:`fakes.frontend.server`."""

from .server import main

raise SystemExit(main())
