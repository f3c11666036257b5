# SPDX-License-Identifier: Apache-2.0

"""One-line messages from exception classes and HTTP statuses."""

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from osc_image_task import errors
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes


def http_error(status, body='', content_type=fakes.HTML):
    response = requests.Response()
    response.status_code = status
    response.headers['Content-Type'] = content_type
    response._content = body.encode()
    response.request = requests.Request('POST', fakes.TASKS_URL).prepare()
    try:
        sdk_exceptions.raise_from_response(response)
    except sdk_exceptions.HttpException as exc:
        return exc
    raise AssertionError('no error for %d' % status)


class TestDescribe(base.TestCase):
    def describe(self, exc, service='Glance'):
        message = errors.describe(exc, service, 'http://x:1/v2')
        self.assertNotIn('\n', message)
        return message

    def test_connection_failures_by_class(self):
        for cls, words in (
            (ksa_exceptions.ConnectFailure, 'Cannot connect to Keystone at'),
            (ksa_exceptions.ConnectTimeout, 'did not answer in time'),
            (ksa_exceptions.SSLError, 'TLS failed talking to Keystone'),
            (ksa_exceptions.EndpointNotFound, 'Cannot reach the image API at'),
        ):
            self.assertIn(words, self.describe(cls('their words'), 'Keystone'))

    def test_http_statuses(self):
        for status, words in (
            (400, 'Glance rejected the task (HTTP 400): '),
            (401, 'Authentication failed (HTTP 401): '),
            (403, "Glance policy 'tasks_api_access'"),
            (404, 'Glance answered HTTP 404 to POST ' + fakes.TASKS_URL),
            (503, 'Glance failed (HTTP 503) on POST ' + fakes.TASKS_URL),
        ):
            message = self.describe(
                http_error(status, fakes.glance_html('x', 'Why.'))
            )
            self.assertIn(words, message)
            self.assertIn(': Why', message)

    def test_keystone_403_is_not_the_tasks_policy(self):
        message = self.describe(http_error(403, 'no'), 'Keystone')
        self.assertNotIn('tasks_api_access', message)

    def test_glance_words_without_markup_or_schema(self):
        exc = http_error(400, fakes.SCHEMA_MISMATCH_HTML)
        self.assertEqual(
            "Provided object does not match schema 'task': 'export' is not "
            "one of ['import']",
            errors.server_text(exc),
        )

    def test_json_details(self):
        exc = http_error(401, fakes.UNAUTHORIZED_JSON, 'application/json')
        self.assertEqual(
            'The request you have made requires authentication',
            errors.server_text(exc),
        )

    def test_empty_answer(self):
        self.assertIn('(HTTP 500) on POST', self.describe(http_error(500)))

    def test_anything_else_in_one_line(self):
        self.assertEqual(
            'a b', self.describe(sdk_exceptions.SDKException('a\n b.'))
        )


class TestIsPassing(base.TestCase):
    def test_passing(self):
        for exc in (
            ksa_exceptions.ConnectFailure(),
            ksa_exceptions.ConnectTimeout(),
            http_error(502),
            http_error(503),
            http_error(504),
        ):
            self.assertTrue(errors.is_passing(exc), exc)

    def test_lasting(self):
        for exc in (
            ksa_exceptions.SSLError(),
            http_error(500),
            http_error(401),
            http_error(403),
            http_error(404),
            sdk_exceptions.SDKException(),
        ):
            self.assertFalse(errors.is_passing(exc), exc)
