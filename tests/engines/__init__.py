"""Private engines for the test suite: each started once per session, on a free port in a folder
of its own, and stopped at the end. Nothing here assumes a service already runs on the machine.
"""
