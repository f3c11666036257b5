"""The benchmark of ``openstack image task create``; ``bench/bench.py``
is the command.

``cloud``
    The local cloud as the bench uses it: commands run there and what
    they cost, tasks awaited, images deleted.
``report``
    The summaries and the run's details.
``commands``, ``waiting``, ``concurrency``
    The measurements; each imports only ``cloud`` and ``report``.
"""
