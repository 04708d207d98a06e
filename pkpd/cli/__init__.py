"""The command line (top layer): ``main`` and one module per command."""
