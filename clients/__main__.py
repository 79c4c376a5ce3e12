"""``python -m clients``: the same as the ``hotplugctl`` console script."""

from clients.cli import main

raise SystemExit(main())
