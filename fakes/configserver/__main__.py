"""``python -m fakes.configserver --db PATH [--host H] [--port P]``."""

from .server import main

raise SystemExit(main())
