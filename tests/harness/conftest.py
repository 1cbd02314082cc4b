"""Fixtures of the harness tests."""

from .artifacts_support import pki  # noqa: F401  (a session fixture: the throwaway PKI)
