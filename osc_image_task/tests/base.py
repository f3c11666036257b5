# SPDX-License-Identifier: Apache-2.0

"""osc-lib's test base classes, from wherever the installed osc-lib has them.

osc-lib 4.x made them public as ``osc_lib.test.base`` and deprecated
``osc_lib.tests.utils``; the osc-lib of OpenStack 2023.1 to 2025.1 (2.7.0 to
4.0.x) has only the latter.
"""

import io

import fixtures
from keystoneauth1 import fixture as ksa_fixture
from openstack import connection
from openstack.config import get_cloud_region
from osc_lib import exceptions
from requests_mock.contrib import fixture as rm_fixture

from osc_image_task.tests.unit import fakes
from osc_image_task.v2 import task

try:
    from osc_lib.test.base import ParserException
    from osc_lib.test.base import TestCase
    from osc_lib.test.base import TestCommand
except ImportError:
    from osc_lib.tests.utils import ParserException
    from osc_lib.tests.utils import TestCase
    from osc_lib.tests.utils import TestCommand

__all__ = [
    'ClientManager',
    'CommandTestCase',
    'ParserException',
    'TestCase',
    'TestCommand',
]


class ClientManager:
    """What the commands use of OpenStackClient's client manager, over a
    real openstacksdk connection: authenticated on first use, as OSC's."""

    region_name = 'RegionOne'
    interface = 'public'

    def __init__(self, cloud):
        self.connection = connection.Connection(config=cloud)

    @property
    def session(self):
        return self.connection.session

    @property
    def image(self):
        return self.connection.image

    @property
    def auth_ref(self):
        session = self.connection.session
        return session.auth.get_access(session)

    def get_endpoint_for_service_type(
        self, service_type, region_name=None, interface='public'
    ):
        return self.auth_ref.service_catalog.url_for(
            service_type=service_type,
            region_name=region_name,
            interface=interface,
        )


class CommandTestCase(TestCommand):
    """``image task create`` and ``wait`` with a real openstacksdk
    connection, built from a cloud config as OpenStackClient's is, to a
    Keystone and Glance that requests-mock plays: nothing leaves the
    process, and every request the command sends is in :attr:`requests`."""

    command = task.CreateTask

    def setUp(self):
        super().setUp()
        self.requests = self.useFixture(rm_fixture.Fixture())
        self.token = ksa_fixture.V3Token(user_id='admin-id')
        self.token.set_project_scope(id=fakes.OWNER_ID, name='admin')
        self.token.add_service('image').add_standard_endpoints(
            public=fakes.GLANCE_URL, region='RegionOne'
        )
        self.requests.post(
            fakes.KEYSTONE_URL + '/auth/tokens',
            json=self.token,
            headers={'X-Subject-Token': 'fake-token'},
            status_code=201,
        )
        self.requests.get(fakes.GLANCE_URL + '/', json=VERSIONS)
        self.app.client_manager = self.client_manager()
        self.app.stdout = io.StringIO()
        self.app.stderr = io.StringIO()
        self.clock = fakes.FakeClock()
        for module in ('wait', 'lookup', 'v2.task'):
            self.useFixture(
                fixtures.MockPatch(
                    'osc_image_task.%s.time' % module, self.clock
                )
            )
        self.cmd = self.command(self.app, None)

    def client_manager(self, **config):
        """A client manager for a cloud with the settings ``config``."""
        return ClientManager(
            get_cloud_region(
                load_yaml_config=False,
                load_envvars=False,
                auth_type='v3password',
                auth={
                    'auth_url': fakes.KEYSTONE_URL,
                    'username': 'admin',
                    'password': 'secret',
                    'project_name': 'admin',
                    'user_domain_id': 'default',
                    'project_domain_id': 'default',
                },
                region_name='RegionOne',
                **config,
            )
        )

    def parse(self, *argv):
        return self.check_parser(self.cmd, list(argv), [])

    def run_cmd(self, *argv):
        """Parse ``argv`` and run the command; return its columns and data
        as a dict."""
        columns, data = self.cmd.take_action(self.parse(*argv))
        return dict(zip(columns, data))

    def answer_post(self, status=201, **kwargs):
        kwargs.setdefault('json', fakes.task_attrs())
        self.requests.post(fakes.TASKS_URL, status_code=status, **kwargs)

    def answer_polls(self, *responses):
        self.requests.get(fakes.TASKS_URL + '/' + fakes.TASK_ID, responses)

    def sent(self, method=None):
        """The requests sent to Glance, all of them or those of
        ``method``."""
        return [
            r
            for r in self.requests.request_history
            if method in (None, r.method)
            and r.url.startswith(fakes.GLANCE_URL)
        ]

    def assertRefused(self, message, *argv):
        """The command fails with ``message`` in its error, and nothing
        reaches Glance."""
        exc = self.assertRaises(exceptions.CommandError, self.run_cmd, *argv)
        self.assertIn(message, str(exc))
        self.assertNotIn('\n', str(exc))
        self.assertEqual([], self.sent())
        return str(exc)


# Glance's version document, which openstacksdk asks for first.
VERSIONS = {
    'versions': [
        {
            'id': 'v2.16',
            'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': fakes.GLANCE_URL + '/v2/'}],
        }
    ]
}
