"""``python -m itnet_neuro.cli`` is the same as ``python -m itnet_neuro`` and the ``itnet-neuro`` command."""

from itnet_neuro.cli import entry_point

entry_point()
