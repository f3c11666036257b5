# SPDX-License-Identifier: Apache-2.0

"""``image task create`` through a real openstacksdk connection to a
Keystone and Glance that requests-mock plays."""

import json
import time
from unittest import mock

from osc_lib import exceptions
import requests

from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes
from osc_image_task.v2 import task

GOOD = json.dumps(fakes.IMPORT_INPUT)


class TestParser(base.CommandTestCase):
    def test_options(self):
        parsed = self.check_parser(
            self.cmd,
            ['--type', 'import', '--input', GOOD, '--wait'],
            [('type', 'import'), ('input', GOOD), ('wait', True)],
        )
        self.assertIsNone(parsed.wait_timeout)
        self.assertEqual([], parsed.image_property)

    def test_image_property_keys_are_stripped(self):
        parsed = self.parse('--image-property', ' name = x ')
        self.assertEqual([('name', ' x ')], parsed.image_property)

    def test_image_property_needs_a_key(self):
        for text in ('=x', ' =x', 'novalue'):
            self.assertRaises(
                base.ParserException,
                self.parse,
                '--image-property',
                text,
            )

    def test_wait_timeout_must_be_positive_and_finite(self):
        self.assertEqual(2.5, self.parse('--wait-timeout', '2.5').wait_timeout)
        for text in ('0', '-1', 'inf', 'nan', 'soon'):
            self.assertRaises(
                base.ParserException, self.parse, '--wait-timeout', text
            )


class TestCreate(base.CommandTestCase):
    def test_posts_the_task_once_and_shows_it(self):
        self.answer_post()
        shown = self.run_cmd('--type', 'import', '--input', GOOD)

        (post,) = self.sent('POST')[1:]  # after the token request
        self.assertEqual(fakes.TASKS_URL, post.url)
        self.assertEqual(
            {'type': 'import', 'input': fakes.IMPORT_INPUT}, post.json()
        )
        self.assertEqual('fake-token', post.headers['X-Auth-Token'])
        self.assertEqual(fakes.TASK_ID, shown['id'])
        self.assertEqual(fakes.OWNER_ID, shown['owner_id'])
        self.assertEqual('pending', shown['status'])
        self.assertEqual(fakes.IMPORT_INPUT, shown['input'].machine_readable())
        self.assertEqual({}, shown['properties'].machine_readable())
        self.assertEqual(
            sorted(task.TASK_FIELDS | {'properties'}), list(shown)
        )

    def test_single_quoted_input_arrives_unchanged(self):
        self.answer_post()
        self.run_cmd(
            '--type',
            'import',
            '--input',
            "{'import_from': 'http://127.0.0.1:8000/cirros-0.6.2-x86_64-"
            "disk.img', 'import_from_format': 'qcow2', 'image_properties': "
            "{'name': \"O'Brien's café image\", 'disk_format': 'qcow2', "
            "'container_format': 'bare',},}",
        )
        self.assertEqual(
            fakes.IMPORT_INPUT, self.sent('POST')[1].json()['input']
        )

    def test_import_options_build_and_override_the_input(self):
        self.answer_post()
        self.run_cmd(
            '--input',
            GOOD,
            '--name',
            'nightly',
            '--import-from-format',
            'raw',
            '--image-property',
            ' os_distro =cirros',
        )
        sent = self.sent('POST')[1].json()
        self.assertEqual('import', sent['type'])
        expected = fakes.import_input()
        expected['import_from_format'] = 'raw'
        expected['image_properties'].update(name='nightly', os_distro='cirros')
        self.assertEqual(expected, sent['input'])

    def test_text_formatters_get_json_text(self):
        self.answer_post()
        parsed = self.parse('--type', 'import', '--input', GOOD, '-f', 'value')
        columns, data = self.cmd.take_action(parsed)
        shown = dict(zip(columns, data))
        self.assertEqual(fakes.IMPORT_INPUT, json.loads(shown['input']))

    def test_unknown_types_are_left_to_glance(self):
        self.answer_post(json=fakes.task_attrs(type='export'))
        self.run_cmd('--type', 'export', '--input', '{}')
        self.assertEqual('export', self.sent('POST')[1].json()['type'])

    def test_dry_run_needs_no_cloud(self):
        parsed = self.parse('--input', GOOD, '--name', 'x', '--dry-run')
        columns, data = self.cmd.take_action(parsed)
        self.assertEqual(('type', 'input'), columns)
        self.assertEqual('import', data[0])
        self.assertEqual(
            'x', data[1].machine_readable()['image_properties']['name']
        )
        self.assertEqual([], self.sent())
        self.app.cloud_config.get_one.assert_not_called()


class TestRefusedBeforeSending(base.CommandTestCase):
    def test_option_combinations(self):
        for message, argv in (
            ('need --wait', ['--wait-timeout', '5']),
            ('--dry-run creates no task', ['--dry-run', '--wait']),
            ('not --type export', ['--type', 'export', '--name', 'x']),
            ('--type is required', ['--input', GOOD]),
            ('--type is required', ['--type', ' ', '--input', GOOD]),
            ('--input is required', ['--type', 'import']),
            (
                'name is given twice',
                ['--name', 'a', '--image-property', 'name=b'],
            ),
        ):
            self.assertRefused(message, *argv)

    def test_bad_input(self):
        for message, text in (
            ('must be a JSON object', '[]'),
            ('nor valid single-quoted input at line 1', '{"a": '),
            ('nor valid single-quoted input', "{'a': 0x10}"),
            ('an import task needs', '{}'),
            (
                'import_from in the input of an import task',
                json.dumps(dict(fakes.IMPORT_INPUT, import_from='')),
            ),
        ):
            self.assertRefused(message, '--type', 'import', '--input', text)

    def test_internal_types(self):
        for name in ('api_image_import', 'location_import'):
            self.assertRefused(
                '--type %s is internal to Glance' % name,
                '--type',
                name,
                '--input',
                '{"image_id": "x"}',
            )

    def test_unreadable_file(self):
        self.assertRefused(
            'cannot read --input @/nonexistent/x',
            '--type',
            'import',
            '--input',
            '@/nonexistent/x',
        )


class TestServerFaults(base.CommandTestCase):
    def assertFails(self, message, sends=1):
        exc = self.assertRaises(
            exceptions.CommandError,
            self.run_cmd,
            '--type',
            'import',
            '--input',
            GOOD,
        )
        self.assertIn(message, str(exc))
        self.assertNotIn('\n', str(exc))
        self.assertEqual(sends, len(self.task_posts()))
        return str(exc)

    def task_posts(self):
        return [r for r in self.sent('POST') if r.url == fakes.TASKS_URL]

    def test_glance_rejects_the_task(self):
        self.answer_post(
            400,
            text=fakes.SCHEMA_MISMATCH_HTML,
            headers={'Content-Type': fakes.HTML},
            json=None,
        )
        message = self.assertFails('Glance rejected the task (HTTP 400): ')
        # Glance's words pass through, without the markup or the schema.
        self.assertIn("does not match schema 'task'", message)
        self.assertNotIn('Failed validating', message)
        self.assertNotIn('<', message)

    def test_forbidden(self):
        self.answer_post(
            403,
            text=fakes.FORBIDDEN_HTML,
            headers={'Content-Type': fakes.HTML},
            json=None,
        )
        self.assertFails(
            "admin-only by default (Glance policy 'tasks_api_access')"
        )

    def test_server_error(self):
        self.answer_post(500, text='boom', json=None)
        message = self.assertFails('Glance failed (HTTP 500) on POST ')
        self.assertIn(fakes.TASKS_URL, message)

    def test_glance_unreachable_before_the_post(self):
        self.requests.get(
            fakes.GLANCE_URL + '/', exc=requests.exceptions.ConnectionError
        )
        message = self.assertFails('image API at ' + fakes.GLANCE_URL, 0)
        self.assertNotIn('may or may not', message)

    def test_a_proxys_503_is_not_resent(self):
        self.answer_post(
            503,
            text='<html><body>No server</body></html>',
            json=None,
            headers={'Content-Type': fakes.HTML},
        )
        self.assertIn('No server', self.assertFails('(HTTP 503) on POST'))

    def lose_the_answer(self, exc, *tasks):
        """The POST's answer is lost; Glance lists `tasks` (newest first)
        and shows each."""
        self.requests.post(fakes.TASKS_URL, exc=exc)
        self.requests.get(fakes.TASKS_URL, json={'tasks': list(tasks)})
        for shown in tasks:
            self.requests.get(fakes.TASKS_URL + '/' + shown['id'], json=shown)

    def test_lost_answer_is_not_resent(self):
        self.lose_the_answer(requests.exceptions.ConnectionError)
        self.assertFails('no task was created, and trying again is safe')
        (listing,) = [r for r in self.sent('GET') if r.path == '/v2/tasks']
        self.assertEqual(['created_at'], listing.qs['sort_key'])

    def test_read_timeout_is_not_resent(self):
        now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        created = fakes.task_attrs(created_at=now)
        self.lose_the_answer(requests.exceptions.ReadTimeout, created)
        shown = self.run_cmd('--type', 'import', '--input', GOOD)
        self.assertEqual(fakes.TASK_ID, shown['id'])
        self.assertIn(
            'Glance created task %s' % fakes.TASK_ID,
            self.app.stderr.getvalue(),
        )
        self.assertEqual(1, len(self.task_posts()))

    def test_glance_unreachable_after_a_lost_answer(self):
        self.requests.post(
            fakes.TASKS_URL, exc=requests.exceptions.ConnectionError
        )
        self.requests.get(
            fakes.TASKS_URL, exc=requests.exceptions.ConnectionError
        )
        self.assertFails('which may or may not exist now')

    def test_answers_that_are_not_a_task(self):
        for sends, body in enumerate(('not json', '[1]', '"x"', '{}'), 1):
            self.requests.post(fakes.TASKS_URL, text=body, status_code=201)
            message = self.assertFails('Glance answered POST', sends)
            self.assertIn('not a task', message)

    def test_keystone_refuses_the_credentials(self):
        self.requests.post(
            fakes.KEYSTONE_URL + '/auth/tokens',
            status_code=401,
            text=fakes.UNAUTHORIZED_JSON,
            headers={'Content-Type': 'application/json'},
        )
        message = self.assertFails('Authentication failed (HTTP 401)', sends=0)
        self.assertIn('requires authentication', message)
        self.assertNotIn('{', message)  # Keystone's words, not its JSON

    def test_keystone_unreachable(self):
        self.requests.post(
            fakes.KEYSTONE_URL + '/auth/tokens',
            exc=requests.exceptions.ConnectionError,
        )
        self.assertFails(
            'Cannot connect to Keystone at ' + fakes.KEYSTONE_URL, sends=0
        )


class TestWait(base.CommandTestCase):
    def wait(self, *statuses, extra=()):
        self.answer_post()
        self.answer_polls(
            *[
                {
                    'json': fakes.task_attrs(
                        status=s, message='m' if s == 'failure' else ''
                    )
                }
                for s in statuses
            ]
        )
        parsed = self.parse(
            '--type', 'import', '--input', GOOD, '--wait', *extra
        )
        return self.cmd.run(parsed)

    def test_success(self):
        self.assertEqual(0, self.wait('pending', 'processing', 'success'))
        self.assertIn('success', self.app.stdout.getvalue())
        lines = self.app.stderr.getvalue().splitlines()
        self.assertEqual(3, len(lines))
        self.assertIn('Task %s: success after 0.' % fakes.TASK_ID, lines[-1])

    def test_failure_is_shown_then_reported(self):
        exc = self.assertRaises(
            exceptions.CommandError, self.wait, 'processing', 'failure'
        )
        self.assertEqual('Task %s failed: m' % fakes.TASK_ID, str(exc))
        self.assertIn('failure', self.app.stdout.getvalue())

    def test_timeout(self):
        exc = self.assertRaises(
            exceptions.CommandError,
            self.wait,
            'processing',
            extra=('--wait-timeout', '2'),
        )
        self.assertIn('still processing after 2 s', str(exc))
        self.assertIn('openstack image task show ' + fakes.TASK_ID, str(exc))

    def test_ctrl_c_says_how_to_follow_the_task(self):
        self.answer_post()
        self.answer_polls({'exc': KeyboardInterrupt})
        parsed = self.parse('--type', 'import', '--input', GOOD, '--wait')
        self.assertRaises(KeyboardInterrupt, self.cmd.run, parsed)
        self.assertIn(
            'openstack image task show ' + fakes.TASK_ID,
            self.app.stderr.getvalue(),
        )

    def test_poll_failure_names_the_task(self):
        self.answer_post()
        self.answer_polls({'status_code': 403, 'text': 'no'})
        parsed = self.parse('--type', 'import', '--input', GOOD, '--wait')
        exc = self.assertRaises(exceptions.CommandError, self.cmd.run, parsed)
        self.assertIn('while waiting for task ' + fakes.TASK_ID, str(exc))


class TestScope(base.TestCase):
    def conn(self, auth):
        return mock.Mock(session=mock.Mock(auth=auth))

    def test_scope_from_the_auth_reference(self):
        for system, domain, scope in (
            (True, False, 'system'),
            (False, True, 'domain'),
            (False, False, None),
        ):
            access = mock.Mock(system_scoped=system, domain_scoped=domain)
            auth = mock.Mock(get_access=mock.Mock(return_value=access))
            self.assertEqual(scope, task._scope(self.conn(auth)))

    def test_auth_without_an_auth_reference(self):
        self.assertIsNone(task._scope(self.conn(object())))
