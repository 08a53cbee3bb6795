"""``python -m shopstream ARGS``: the ``shopstream`` command with this interpreter (no PATH needed)."""

from shopstream.cli import main

main()
