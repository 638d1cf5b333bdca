"""`python -m archc`: the command line, as the `archc` script."""

from archc.cli import main

main()
