"""``python -m phenocast.cli``: the same as the ``phenocast`` command."""

from ._app import main

main()
