"""Entry points: the command line, the REST API and the web panel."""
