"""`python -m assistant` is the `assistant` command."""

from assistant.cli.app import main

main()
