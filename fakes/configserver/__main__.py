"""``python -m fakes.configserver --db PATH [--host H] [--port P] [--user NAME:PASSWORD]...``."""

from fakes._cli import lean_log_records

from .server import main

lean_log_records()  # this process is the stand-in's own
raise SystemExit(main())
