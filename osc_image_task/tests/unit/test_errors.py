# SPDX-License-Identifier: Apache-2.0

"""One-line messages from exception classes and HTTP statuses."""

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from osc_image_task import errors
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes


def http_error(status, body='', content_type=fakes.HTML, request_id=None):
    response = requests.Response()
    response.status_code = status
    response.headers['Content-Type'] = content_type
    if request_id:
        response.headers['X-OpenStack-Request-ID'] = request_id
    response._content = body.encode()
    response.request = requests.Request('POST', fakes.TASKS_URL).prepare()
    try:
        sdk_exceptions.raise_from_response(response)
    except sdk_exceptions.HttpException as exc:
        return exc
    raise AssertionError('no error for %d' % status)


class TestDescribe(base.TestCase):
    def describe(self, exc):
        message = errors.describe(exc, 'GET http://x:1/v2/tasks')
        self.assertNotIn('\n', message)
        return message

    def test_connection_failures_by_class(self):
        for cls, words in (
            (ksa_exceptions.ConnectFailure, 'connection to Glance failed for'),
            (ksa_exceptions.ConnectTimeout, 'did not answer GET http://x:1'),
            (ksa_exceptions.SSLError, '--os-cacert'),
            (ksa_exceptions.EndpointNotFound, 'openstack catalog show image'),
        ):
            self.assertIn(words, self.describe(cls('their words')))

    def test_tls_is_named_wherever_it_is_in_the_chain(self):
        # openstacksdk may raise its own error while handling keystoneauth's
        try:
            try:
                raise ksa_exceptions.SSLError('their words')
            except ksa_exceptions.SSLError:
                raise sdk_exceptions.SDKException('other words') from None
        except sdk_exceptions.SDKException as exc:
            outer = exc
        self.assertIn('TLS failed on GET http://x:1', self.describe(outer))
        self.assertFalse(errors.may_have_arrived(outer))

    def test_http_statuses(self):
        for status, words in (
            (400, 'Glance rejected the request (HTTP 400): '),
            (401, 'Glance refused the token (HTTP 401): '),
            (403, "Glance policy 'tasks_api_access'"),
            (404, 'Glance answered HTTP 404 to POST ' + fakes.TASKS_URL),
            (503, 'Glance failed (HTTP 503) on POST ' + fakes.TASKS_URL),
        ):
            message = self.describe(
                http_error(status, fakes.glance_html('x', 'Why.'))
            )
            self.assertIn(words, message)
            self.assertIn(': Why', message)

    def test_a_server_error_never_says_to_try_again(self):
        message = self.describe(http_error(500))
        self.assertIn('(HTTP 500) on POST', message)
        self.assertNotIn('again', message)

    def test_keystones_answers_are_named_as_keystones(self):
        # keystoneauth raises its own errors for Keystone's answers only.
        exc = ksa_exceptions.NotFound(http_status=404, method='POST')
        self.assertIn('Keystone answered HTTP 404', self.describe(exc))

    def test_the_request_id_is_kept(self):
        exc = http_error(500, request_id='req-1234')
        self.assertIn('req-1234', self.describe(exc))
        self.assertNotIn('req-', self.describe(http_error(500)))

    def test_the_request_shown_is_the_one_sent(self):
        # The answer names the request; the caller's guess is not used.
        self.assertIn(
            'POST ' + fakes.TASKS_URL, self.describe(http_error(502))
        )

    def test_not_a_task(self):
        self.assertIn(
            'Glance answered GET http://x:1/v2/tasks with something that is '
            'not a task',
            self.describe(errors.NotATask()),
        )

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

    def test_what_may_have_reached_glance(self):
        self.assertTrue(errors.may_have_arrived(http_error(504)))
        self.assertTrue(
            errors.may_have_arrived(ksa_exceptions.ConnectTimeout())
        )
        self.assertFalse(errors.may_have_arrived(http_error(500)))
