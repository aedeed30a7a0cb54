"""`python -m edge_uploader`: see `edge_uploader.cli`."""

from edge_uploader.cli import main

main()
