"""The bodies of the `ofbot` sub-commands that belong to a feature (reminders, payments); the
command line's one list of commands, and the simpler commands, are in bot/cli.py."""
