"""shopstream's core and platform: settings, errors, contracts, clients, the local stack, operations
and the ``shopstream`` command (see the README's folder table)."""
