"""The benchmark of ``openstack image task create``, one module per part.

``bench/bench.py`` is the command; here:

``children``
    Running a command and what it cost (wall, CPU, peak RSS).
``api``
    The bench's own Keystone and Glance calls, through keystoneauth.
``access_logs``
    The requests each command sent, read from the servers' access logs.
``report``
    Statistics, the results table, and where the results are written.
``measures``
    The measurements: plugin load cost, end to end, requests, modules.
``waiting``
    The ``--wait`` measurements and the side watcher they use.
"""
