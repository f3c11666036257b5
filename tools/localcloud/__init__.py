"""A throwaway Keystone and Glance on 127.0.0.1, for osc-image-task.

``tools/local_cloud.py`` is the command line; this package is the tool,
one module per concern, in the order a start goes through them:

``layout``
    Where everything lives in the work directory, the ports and URLs of a
    start, the accounts, errors and progress lines.
``releases``
    What differs between server releases (the newest, 2023.1): Python,
    pins, packages, WSGI apps, gunicorn options, Glance's paste file.
    The one place to change for another release.
``processes``
    Child processes: set-up steps, servers in process groups of their
    own, waiting for them to answer, stopping them.
``venvs``
    The servers' venv (and the demo's client venv).
``database``
    The PostgreSQL server that Keystone and Glance keep their data in.
``keystone``, ``glance``
    Each service's configuration, schema and set-up.
``image_server``
    The small web server that serves the test image to import (slowly,
    when asked).
``haproxy``
    HAProxy in front of Glance (TLS with the cloud's own CA, the /image
    prefix, a public and an internal frontend), its fault switches and
    its log.
``fault_proxy``
    The HTTP proxy in front of Glance that tests tell to deliver a POST
    late, the one fault HAProxy cannot make.
``cloud``
    Starting and stopping the whole cloud; state.json and clouds.yaml.
``demo``
    The demo: an import with ``openstack image task create``.
``cli``
    The sub-commands and their options.

``keystone_setup`` is not imported by the tool: it runs in the servers'
venv, where openstacksdk creates the projects, users, roles and
endpoints.
"""
