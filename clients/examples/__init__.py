"""Runnable subscribers modelled on real kernel memory-hotplug callbacks (kernel-notes §7).

- ``slub_like``: prepares a per-node structure on MEM_GOING_ONLINE, vetoes with -ENOMEM.
- ``ksm_like``: holds a lock from MEM_GOING_OFFLINE to MEM_OFFLINE / MEM_CANCEL_OFFLINE.
- ``virtio_mem_like``: the ``hotplug_active`` guard; NOTIFY_DONE for blocks it does not own.

Run one with ``python -m clients.examples.NAME --url URL --token TOKEN``; Ctrl-C
unregisters it (unless ``--keep``). Each keeps its logic in a class that can be
attached to a `Subscriber` or a bare `Dispatcher`, so it can be tested without
a network.
"""
