"""``python -m bot`` runs the secbot command line."""

from bot.cli import main

main()
