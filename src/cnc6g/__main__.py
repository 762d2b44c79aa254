"""``python -m cnc6g`` runs the command-line interface."""

from cnc6g.cli.main import main

main()
