"""Use cases: each service function runs one unit of work against the ports in `ports.py`."""
