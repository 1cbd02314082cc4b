"""``python -m fakes.configserver --db PATH [--host H] [--port P] [--user NAME:PASSWORD]...``."""

from .server import main

raise SystemExit(main())
