"""`python -m archc`: the command line, as the `archc` script runs it."""

from archc.cli import main

main()
