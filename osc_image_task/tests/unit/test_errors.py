# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

import json

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from osc_image_task import errors
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes

ADMIN_HINT = (
    "The tasks API is admin-only by default (Glance policy "
    "'tasks_api_access'): use an admin account or ask the cloud operator "
    'to grant access'
)
LOGS_HINT = (
    'try again later or ask the cloud operator to check the Glance logs'
)
KEYSTONE_LOGS_HINT = (
    'try again later or ask the cloud operator to check the Keystone logs'
)
TOKENS_URL = 'http://127.0.0.1:5000/v3/auth/tokens'
MAY_EXIST = (
    '; the task may or may not have been created: check with openstack '
    'image task list'
)
CLOSED = (
    "('Connection aborted.', RemoteDisconnected('Remote end closed "
    "connection without response'))"
)


def sdk_error(status, body, content_type=fakes.HTML, url=fakes.TASKS_URL):
    """The exception openstacksdk raises for an error answer to POST url."""
    response = fakes.make_response(status, body, content_type, url=url)
    try:
        sdk_exceptions.raise_from_response(response)
    except sdk_exceptions.HttpException as exc:
        return exc
    raise AssertionError('no exception for HTTP %d' % status)


def ksa_error(status, body, content_type=fakes.HTML, url=fakes.TASKS_URL):
    """The exception keystoneauth raises for an error answer to POST url."""
    response = fakes.make_response(status, body, content_type, url=url)
    return ksa_exceptions.from_response(response, 'POST', url)


class TestServerText(base.TestCase):
    def test_no_response(self):
        self.assertEqual('', errors.server_text(None))

    def test_glance_html_400(self):
        text = errors.server_text(
            fakes.make_response(400, fakes.TYPE_REQUIRED_HTML)
        )
        self.assertEqual(fakes.TYPE_REQUIRED_TEXT, text)
        self.assertNotIn('<br', text)
        self.assertNotIn('&#x27;', text)
        self.assertNotIn('400 Bad Request', text)

    def test_schema_mismatch_keeps_only_the_reason(self):
        text = errors.server_text(
            fakes.make_response(400, fakes.SCHEMA_MISMATCH_HTML)
        )
        self.assertEqual(fakes.SCHEMA_MISMATCH_TEXT, text)
        for dump in ('Failed validating', 'On instance', 'description'):
            self.assertNotIn(dump, text)

    def test_additional_properties(self):
        body = fakes.glance_html(
            '400 Bad Request',
            'Provided object does not match schema &#x27;task&#x27;: '
            'Additional properties are not allowed (&#x27;extra&#x27; was '
            'unexpected)\n\nFailed validating &#x27;additionalProperties'
            '&#x27; in schema:\n    {&#x27;additionalProperties&#x27;: '
            'False}\n\nOn instance:\n    {&#x27;extra&#x27;: 1}',
        )
        self.assertEqual(
            "Provided object does not match schema 'task': Additional "
            "properties are not allowed ('extra' was unexpected)",
            errors.server_text(fakes.make_response(400, body)),
        )

    def test_entities_decoded_after_tags_dropped(self):
        body = fakes.glance_html(
            '400 Bad Request',
            'URI for legacy import task does not pass filtering: '
            'http://127.0.0.1:8000/a.img?x=1&amp;y=&lt;b&gt;',
        )
        self.assertEqual(
            'URI for legacy import task does not pass filtering: '
            'http://127.0.0.1:8000/a.img?x=1&y=<b>',
            errors.server_text(fakes.make_response(400, body)),
        )

    def test_glance_html_403(self):
        text = errors.server_text(
            fakes.make_response(403, fakes.FORBIDDEN_HTML)
        )
        self.assertEqual(fakes.FORBIDDEN_TEXT + '.', text)

    def test_proxy_html_without_title(self):
        body = (
            '<html><body><h1>503 Service Unavailable</h1>\nNo server is '
            'available to handle this request.\n</body></html>\n'
        )
        self.assertEqual(
            'No server is available to handle this request.',
            errors.server_text(fakes.make_response(503, body, 'text/html')),
        )

    def test_keystonemiddleware_json(self):
        self.assertEqual(
            'The request you have made requires authentication.',
            errors.server_text(
                fakes.make_response(
                    401, fakes.UNAUTHORIZED_JSON, 'application/json'
                )
            ),
        )

    def test_json_shapes(self):
        for body, expected in (
            ({'message': 'top'}, 'top'),
            ({'error': {'message': 'nested'}}, 'nested'),
            ({'error': 'flat'}, 'flat'),
            ({'description': 'described'}, 'described'),
            ({'title': 'titled'}, 'titled'),
            ({'error': {'code': 400}}, '{"error": {"code": 400}}'),
            (['a', 'list'], '["a", "list"]'),
        ):
            response = fakes.make_response(
                400, json.dumps(body), 'application/json; charset=UTF-8'
            )
            self.assertEqual(
                expected, errors.server_text(response), repr(body)
            )

    def test_webob_json(self):
        # Glance answers this way to "Accept: application/json".
        response = fakes.make_response(
            400,
            fakes.glance_json('400 Bad Request', fakes.TYPE_REQUIRED_TEXT),
            'application/json',
        )
        text = errors.server_text(response)
        self.assertIn(fakes.TYPE_REQUIRED_TEXT, text)
        self.assertNotIn('<br', text)

    def test_json_content_type_but_not_json(self):
        response = fakes.make_response(
            502, 'Bad gateway\n  (upstream)', 'application/json'
        )
        self.assertEqual(
            'Bad gateway (upstream)', errors.server_text(response)
        )

    def test_plain_text_and_empty(self):
        self.assertEqual(
            'first second',
            errors.server_text(
                fakes.make_response(500, 'first\r\n\tsecond\n', 'text/plain')
            ),
        )
        self.assertEqual(
            '', errors.server_text(fakes.make_response(500, '', 'text/html'))
        )

    def test_one_line(self):
        self.assertEqual('a b c', errors.one_line(' a\n\t b \r\n c\n'))


class TestDescribeError(base.TestCase):
    def describe(self, exc, endpoint=None):
        message = errors.describe_error(exc, endpoint)
        self.assertNotIn('\n', message)
        self.assertNotIn('\r', message)
        return message

    def test_400(self):
        self.assertEqual(
            "Glance rejected the task (HTTP 400 Bad Request): Task 'type' "
            'is required',
            self.describe(sdk_error(400, fakes.TYPE_REQUIRED_HTML)),
        )

    def test_400_schema_mismatch(self):
        self.assertEqual(
            'Glance rejected the task (HTTP 400 Bad Request): '
            + fakes.SCHEMA_MISMATCH_TEXT,
            self.describe(sdk_error(400, fakes.SCHEMA_MISMATCH_HTML)),
        )

    def test_400_from_keystoneauth(self):
        self.assertEqual(
            "Glance rejected the task (HTTP 400 Bad Request): Task 'type' "
            'is required',
            self.describe(ksa_error(400, fakes.TYPE_REQUIRED_HTML)),
        )

    def test_401(self):
        self.assertEqual(
            'Authentication failed (HTTP 401 Unauthorized): The request you '
            'have made requires authentication; check the credentials of the '
            'cloud in use',
            self.describe(
                sdk_error(401, fakes.UNAUTHORIZED_JSON, 'application/json')
            ),
        )

    def test_401_without_response(self):
        message = self.describe(ksa_exceptions.Unauthorized())
        self.assertIn('Authentication failed (HTTP 401)', message)
        self.assertIn('check the credentials', message)

    def test_403(self):
        for exc in (
            sdk_error(403, fakes.FORBIDDEN_HTML),
            ksa_error(403, fakes.FORBIDDEN_HTML),
        ):
            message = self.describe(exc)
            self.assertTrue(
                message.startswith(
                    'Not allowed (HTTP 403 Forbidden): ' + fakes.FORBIDDEN_TEXT
                ),
                message,
            )
            self.assertTrue(message.endswith(ADMIN_HINT), message)

    def test_403_no_double_full_stop(self):
        message = self.describe(sdk_error(403, fakes.FORBIDDEN_HTML))
        self.assertNotIn('..', message)

    def test_404_and_409(self):
        # Glance's trailing full stop goes; the message ends there.
        for status, reason, explanation, detail in (
            (
                404,
                'Not Found',
                'The resource could not be found.',
                'The resource could not be found',
            ),
            (
                409,
                'Conflict',
                'There was a conflict when trying to complete',
                'There was a conflict when trying to complete',
            ),
        ):
            body = fakes.glance_html('%d %s' % (status, reason), explanation)
            for exc in (sdk_error(status, body), ksa_error(status, body)):
                self.assertEqual(
                    'Glance answered HTTP %d %s to POST %s: %s'
                    % (status, reason, fakes.TASKS_URL, detail),
                    self.describe(exc),
                )

    def test_500_and_503(self):
        for status, reason in (
            (500, 'Internal Server Error'),
            (503, 'Service Unavailable'),
        ):
            body = fakes.glance_html(
                '%d %s' % (status, reason),
                'The server has either erred or is incapable of performing '
                'the requested operation.',
            )
            self.assertEqual(
                'Glance failed (HTTP %d %s) on POST %s: The server has '
                'either erred or is incapable of performing the requested '
                'operation; %s' % (status, reason, fakes.TASKS_URL, LOGS_HINT),
                self.describe(sdk_error(status, body)),
            )

    def test_500_without_details(self):
        self.assertEqual(
            'Glance failed (HTTP 500 Internal Server Error) on POST %s: no '
            'details given; %s' % (fakes.TASKS_URL, LOGS_HINT),
            self.describe(sdk_error(500, '', 'text/plain')),
        )

    def test_500_from_keystone(self):
        for exc in (
            sdk_error(500, '', 'text/plain', url=TOKENS_URL),
            ksa_error(500, '', 'text/plain', url=TOKENS_URL),
        ):
            message = self.describe(exc)
            self.assertEqual(
                'Keystone failed (HTTP 500 Internal Server Error) on POST '
                '%s: no details given; %s' % (TOKENS_URL, KEYSTONE_LOGS_HINT),
                message,
            )
            self.assertNotIn('Glance', message)

    def test_keystone_paths(self):
        for method, url in (
            ('POST', TOKENS_URL),
            ('GET', 'http://127.0.0.1:5000/v3'),
            ('GET', 'http://127.0.0.1:5000/v3/'),
            ('POST', 'https://cloud.example/identity/v3/auth/tokens'),
        ):
            response = fakes.make_response(
                503, 'down', 'text/plain', method=method, url=url
            )
            self.assertEqual(
                'Keystone failed (HTTP 503 Service Unavailable) on %s %s: '
                'down; %s' % (method, url, KEYSTONE_LOGS_HINT),
                self.describe(
                    ksa_exceptions.from_response(response, method, url)
                ),
            )

    def test_glance_paths(self):
        for method, url in (
            ('POST', fakes.TASKS_URL),
            ('GET', fakes.TASKS_URL + '/tid'),
            ('GET', 'http://127.0.0.1:9292/'),
            ('POST', 'https://cloud.example/image/v2/tasks'),
        ):
            response = fakes.make_response(
                503, 'down', 'text/plain', method=method, url=url
            )
            self.assertEqual(
                'Glance failed (HTTP 503 Service Unavailable) on %s %s: '
                'down; %s' % (method, url, LOGS_HINT),
                self.describe(
                    ksa_exceptions.from_response(response, method, url)
                ),
            )

    def test_400_and_403_from_keystone_are_not_about_the_task(self):
        for status, reason in ((400, 'Bad Request'), (403, 'Forbidden')):
            message = self.describe(
                ksa_error(status, 'Nope.', 'text/plain', url=TOKENS_URL)
            )
            self.assertEqual(
                'Keystone answered HTTP %d %s to POST %s: Nope'
                % (status, reason, TOKENS_URL),
                message,
            )
            self.assertNotIn('tasks_api_access', message)

    def test_401_from_keystone(self):
        self.assertEqual(
            'Authentication failed (HTTP 401 Unauthorized): The request you '
            'have made requires authentication; check the credentials of the '
            'cloud in use',
            self.describe(
                ksa_error(
                    401,
                    fakes.UNAUTHORIZED_JSON,
                    'application/json',
                    url=TOKENS_URL,
                )
            ),
        )

    def test_connection_refused(self):
        self.assertEqual(
            'Cannot connect to http://127.0.0.1:9292/v2/tasks: connection '
            'refused. Is the service running and is the endpoint in the '
            'service catalog right?',
            self.describe(
                ksa_exceptions.ConnectFailure(fakes.CONNECTION_REFUSED)
            ),
        )

    def test_unknown_host(self):
        message = self.describe(
            ksa_exceptions.ConnectFailure(
                'Unable to establish connection to '
                'http://glance.invalid:9292/v2/tasks: HTTPConnectionPool('
                "host='glance.invalid', port=9292): Max retries exceeded "
                "with url: /v2/tasks (Caused by NameResolutionError(\"<urllib3"
                '.connection.HTTPConnection object at 0x7f>: Failed to '
                "resolve 'glance.invalid' ([Errno -2] Name or service not "
                'known)"))'
            )
        )
        self.assertEqual(
            'Cannot connect to http://glance.invalid:9292/v2/tasks: no '
            'connection could be made. Is the service running and is the '
            'endpoint in the service catalog right?',
            message,
        )

    def test_connect_failure_without_url(self):
        self.assertIn(
            'Cannot connect to the service: no connection could be made',
            self.describe(ksa_exceptions.ConnectFailure('boom')),
        )

    def test_connect_timeout_on_create(self):
        # The POST may have reached Glance before the time ran out.
        self.assertEqual(
            'Request to http://127.0.0.1:9292/v2/tasks timed out' + MAY_EXIST,
            self.describe(
                ksa_exceptions.ConnectTimeout(
                    'Request to http://127.0.0.1:9292/v2/tasks timed out'
                )
            ),
        )

    def test_connect_timeout_elsewhere(self):
        for url in (
            TOKENS_URL,
            'http://127.0.0.1:9292/',
            'http://127.0.0.1:9292/v2/tasks/tid',
        ):
            self.assertEqual(
                'Request to %s timed out; is the service running and '
                'reachable?' % url,
                self.describe(
                    ksa_exceptions.ConnectTimeout(
                        'Request to %s timed out' % url
                    )
                ),
            )

    def test_connect_timeout_without_url(self):
        self.assertEqual(
            'Request to the service timed out; is the service running and '
            'reachable?',
            self.describe(ksa_exceptions.ConnectTimeout('boom')),
        )

    def test_connection_closed_on_create(self):
        # keystoneauth's message when Glance hangs up after the POST.
        message = self.describe(
            ksa_exceptions.ConnectFailure(
                'Unable to establish connection to '
                'http://127.0.0.1:9292/v2/tasks: ' + CLOSED
            )
        )
        self.assertEqual(
            'The connection to http://127.0.0.1:9292/v2/tasks was closed '
            'before an answer came' + MAY_EXIST,
            message,
        )
        self.assertNotIn('no connection could be made', message)

    def test_connection_closed_either_way_of_saying_it(self):
        for detail in (
            "('Connection aborted.', ConnectionResetError(104, "
            "'Connection reset by peer'))",
            "RemoteDisconnected('Remote end closed connection without "
            "response')",
        ):
            self.assertEqual(
                'The connection to http://127.0.0.1:9292/v2/tasks was '
                'closed before an answer came' + MAY_EXIST,
                self.describe(
                    ksa_exceptions.ConnectFailure(
                        'Unable to establish connection to '
                        'http://127.0.0.1:9292/v2/tasks: ' + detail
                    )
                ),
                detail,
            )

    def test_connection_closed_elsewhere(self):
        for url in (TOKENS_URL, 'http://127.0.0.1:9292/v2/tasks/tid'):
            self.assertEqual(
                'The connection to %s was closed before an answer came' % url,
                self.describe(
                    ksa_exceptions.ConnectFailure(
                        'Unable to establish connection to %s: %s'
                        % (url, CLOSED)
                    )
                ),
            )

    def test_connection_refused_says_nothing_of_the_task(self):
        # Refused: nothing was sent, so the task cannot exist.
        self.assertNotIn(
            'may or may not',
            self.describe(
                ksa_exceptions.ConnectFailure(fakes.CONNECTION_REFUSED)
            ),
        )

    def test_json_decode_error(self):
        response = fakes.make_response(201, '<html>not json</html>')
        exc = self.assertRaises(
            requests.exceptions.JSONDecodeError, response.json
        )
        self.assertIsInstance(exc, errors.HANDLED)
        self.assertEqual(
            'Glance answered with a body that is not valid JSON: Expecting '
            'value: line 1 column 1 (char 0)',
            self.describe(exc),
        )

    def test_service_discovery_names_the_endpoint(self):
        exc = sdk_exceptions.ServiceDiscoveryException(
            'Failed to create a working proxy for service image: No endpoint '
            'data found.'
        )
        self.assertIsInstance(exc, errors.HANDLED)
        self.assertEqual(
            'Cannot connect to the image service at http://127.0.0.1:1/: '
            'Failed to create a working proxy for service image: No '
            'endpoint data found. Is Glance running and is its endpoint '
            'right?',
            self.describe(exc, 'http://127.0.0.1:1/'),
        )

    def test_no_supported_versions_names_the_endpoint(self):
        # What openstacksdk raises when the catalog's Glance refuses
        # connections.
        exc = sdk_exceptions.NotSupported(
            'The image service for fake:RegionOne exists but does not have '
            'any supported versions.'
        )
        self.assertIsInstance(exc, errors.HANDLED)
        self.assertEqual(
            'Cannot connect to the image service at http://127.0.0.1:1: The '
            'image service for fake:RegionOne exists but does not have any '
            'supported versions. Is Glance running and is its endpoint '
            'right?',
            self.describe(exc, 'http://127.0.0.1:1'),
        )

    def test_service_discovery_without_endpoint(self):
        self.assertEqual(
            'Cannot connect to the image service at its endpoint: No '
            'endpoint data found. Is Glance running and is its endpoint '
            'right?',
            self.describe(
                sdk_exceptions.ServiceDiscoveryException(
                    'No endpoint data found.'
                )
            ),
        )

    def test_sdk_http_exception_without_response(self):
        # Raised by openstacksdk itself, so there is no status to explain.
        exc = sdk_exceptions.HttpException(message='boom')
        self.assertIsNone(exc.response)
        self.assertEqual('boom', self.describe(exc))

    def test_other_errors(self):
        for exc, expected in (
            (sdk_exceptions.SDKException('two\nlines'), 'two lines'),
            (sdk_exceptions.SDKException(''), 'SDKException'),
            (ksa_exceptions.ClientException(), 'ClientException'),
            (
                ksa_exceptions.EndpointNotFound(),
                'Could not find requested endpoint in Service Catalog.',
            ),
            (requests.exceptions.InvalidURL('Invalid URL'), 'Invalid URL'),
        ):
            self.assertIsInstance(exc, errors.HANDLED)
            self.assertEqual(expected, self.describe(exc))

    def test_handled_classes(self):
        self.assertIsInstance(
            ksa_exceptions.ConnectFailure('x'), errors.HANDLED
        )
        self.assertNotIsInstance(ValueError('x'), errors.HANDLED)
        self.assertNotIsInstance(KeyboardInterrupt(), errors.HANDLED)

    def test_ssl_error_keeps_its_details(self):
        message = self.describe(
            ksa_exceptions.SSLError(
                'SSL exception connecting to https://glance.example:9292/'
                'v2/tasks: certificate verify failed: self-signed '
                'certificate'
            )
        )
        self.assertIn('https://glance.example:9292/v2/tasks', message)
        self.assertIn('certificate verify failed', message)
