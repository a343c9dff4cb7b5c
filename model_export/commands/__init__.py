"""The offline subcommands of the `adrank` CLI: one module per command, each with
``add_parser(subparsers)`` and ``run(args)``. Heavy imports (torch, pandas) happen in ``run``
so `adrank --help` and `adrank serve` stay light."""
