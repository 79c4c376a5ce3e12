"""The notifier chain: pure, synchronous, standard library only.

Values and errno conversion (``values``), actions (``actions``), the ordered
chain (``chain``) and one walk as a state machine (``walk``).
"""
