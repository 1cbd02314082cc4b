"""``python -m fakes.kdc --realm COMPANYA.COM --account NAME:PASSWORD[:SPN,...] ...``."""

from fakes._cli import lean_log_records

from .server import main

lean_log_records()  # this process is the stand-in's own
raise SystemExit(main())
