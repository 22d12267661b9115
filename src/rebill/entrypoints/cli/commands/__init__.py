"""The command modules, one per command group (or a few top-level commands). Each defines
`cli`, a Typer holding its commands and groups; `app.COMMANDS` says which module serves which
name, so that only the module of the command being run is imported."""
