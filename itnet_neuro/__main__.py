"""``python -m itnet_neuro`` is the same as the ``itnet-neuro`` command."""

from itnet_neuro.cli import entry_point

entry_point()
