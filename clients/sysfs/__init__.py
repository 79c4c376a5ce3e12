"""The sysfs projection: a hotplugd service's memory as ``/sys/devices/system/memory``.

``hotplugctl mount DIR`` serves, over FUSE, the files the kernel's
``drivers/base/memory.c`` presents (kernel-notes §5), rendered from the REST
API and written through it, so util-linux ``lsmem`` and ``chmem``, udev-style
scripts and ``echo offline > memoryN/state`` drive hotplugd unchanged;
``--debugfs DIR`` adds the ``memory-notifier-error-inject`` files.

- `clients.sysfs.memory` / `clients.sysfs.debugfs`: the trees (no FUSE);
- `clients.sysfs.backend`: cached API reads, writes, errno mapping;
- `clients.sysfs.parse`: the kernel's parsers (kstrtoull, kstrtobool …);
- `clients.sysfs.fs`: the pyfuse3 glue (needs the ``fuse`` extra);
- `clients.sysfs.safety`: never over the machine's own sysfs;
- `clients.sysfs.command`: the ``mount`` subcommand.

Only `clients.sysfs.fs` imports pyfuse3, and only when mounting.
"""
