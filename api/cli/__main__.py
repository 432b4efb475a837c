"""`python -m api.cli`: how the API starts a run as a process of its own."""

from api.cli import main

main()
