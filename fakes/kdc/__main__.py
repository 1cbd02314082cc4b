"""``python -m fakes.kdc --realm COMPANYA.COM --account NAME:PASSWORD[:SPN,...] ...``."""

from .server import main

raise SystemExit(main())
