"""The memory model: pure, synchronous, standard library and ``app.chain`` only.

Blocks, zones and nodes (``model``), the ``memory_notify`` argument
(``notify``), the transition steps (``transition``), hot-add/remove
(``ops``) and layouts (``layout``).
"""
