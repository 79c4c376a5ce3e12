"""``python -m clients.sysfs debugfs DIR``: the debugfs process of ``hotplugctl mount``."""

from clients.sysfs.command import child_main

raise SystemExit(child_main())
