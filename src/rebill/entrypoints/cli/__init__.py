"""The `rebill` command line (Typer + Rich)."""
