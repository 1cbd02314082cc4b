"""Stand-ins for the real components of a UC Connector <-> Lync deployment.

Each sub-package runs alone (``python -m fakes.NAME`` or ``ucclab serve NAME``) and never
imports :mod:`harness`: it must be able to run in a container against the real UC Connector.
"""
