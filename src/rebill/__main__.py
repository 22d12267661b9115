"""`python -m rebill`: the same as the `rebill` command (handy with `python -X importtime`)."""

from rebill.entrypoints.cli.app import main

main()
