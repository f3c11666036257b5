# SPDX-License-Identifier: Apache-2.0

"""``image task create`` through a real openstacksdk connection to a
Keystone and Glance that requests-mock plays."""

import json

from osc_lib import exceptions
import requests

from osc_image_task import glance
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

        (post,) = self.sent('POST')
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
            fakes.IMPORT_INPUT, self.sent('POST')[0].json()['input']
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
        sent = self.sent('POST')[0].json()
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
        self.assertEqual('export', self.sent('POST')[0].json()['type'])

    def test_the_type_is_stripped(self):
        self.answer_post()
        self.run_cmd('--type', ' import ', '--input', GOOD)
        self.assertEqual('import', self.sent('POST')[0].json()['type'])

    def test_import_options_alone_make_an_import_task(self):
        self.answer_post()
        self.run_cmd(
            '--import-from',
            'http://127.0.0.1:8000/x.img',
            '--import-from-format',
            'raw',
            '--container-format',
            'bare',
        )
        sent = self.sent('POST')[0].json()
        self.assertEqual('import', sent['type'])
        self.assertEqual(
            {'container_format': 'bare'}, sent['input']['image_properties']
        )

    def test_the_post_is_sent_once_with_a_bounded_wait(self):
        self.answer_post()
        self.run_cmd('--type', 'import', '--input', GOOD)
        (post,) = self.sent('POST')
        self.assertEqual(glance.POST_TIMEOUT, post.timeout)

    def test_the_wait_for_the_answer_can_be_set(self):
        self.answer_post()
        self.run_cmd(
            '--type', 'import', '--input', GOOD, '--post-timeout', '5'
        )
        self.assertEqual(5.0, self.sent('POST')[0].timeout)

    def test_dry_run_sends_nothing_to_glance(self):
        parsed = self.parse('--input', GOOD, '--name', 'x', '--dry-run')
        columns, data = self.cmd.take_action(parsed)
        self.assertEqual(('type', 'input'), columns)
        self.assertEqual('import', data[0])
        self.assertEqual(
            'x', data[1].machine_readable()['image_properties']['name']
        )
        self.assertEqual([], self.sent())


class TestScope(base.CommandTestCase):
    def test_a_token_without_a_project_is_refused_before_glance(self):
        for scope in ('unscoped', 'domain-scoped', 'system-scoped'):
            self.token.pop('token')  # a new token of that scope
            self.token.__init__(user_id='admin-id')
            if scope == 'domain-scoped':
                self.token.set_domain_scope(id='d-id', name='Default')
            elif scope == 'system-scoped':
                self.token.set_system_scope()
            self.app.client_manager = self.client_manager()
            message = self.assertRefused(
                'The token is %s' % scope, '--type', 'import', '--input', GOOD
            )
            self.assertIn('--os-project-name', message)


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
            ('cannot succeed without import_from', '{}'),
            (
                '--container-format',
                json.dumps(dict(fakes.IMPORT_INPUT, image_properties={})),
            ),
        ):
            self.assertRefused(message, '--type', 'import', '--input', text)

    def test_import_options_without_a_container_format(self):
        message = self.assertRefused(
            'container_format in image_properties (--container-format)',
            '--import-from',
            'http://127.0.0.1:8000/x.img',
            '--import-from-format',
            'raw',
        )
        self.assertNotIn('import_from ', message)

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
        self.assertNotIn('safe', str(exc))
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
        message = self.assertFails('Glance rejected the request (HTTP 400): ')
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

    def test_server_error_keeps_the_request_id(self):
        self.answer_post(
            500,
            text='boom',
            json=None,
            headers={'X-OpenStack-Request-ID': 'req-42'},
        )
        message = self.assertFails('Glance failed (HTTP 500) on POST ')
        self.assertIn(fakes.TASKS_URL, message)
        self.assertIn('req-42', message)

    def test_glance_unreachable_before_the_post(self):
        for exc, words in (
            (requests.exceptions.ConnectionError, 'The connection to Glance'),
            (requests.exceptions.SSLError, '--os-cacert'),
        ):
            self.requests.get(fakes.GLANCE_URL + '/', exc=exc)
            message = self.assertFails(words, sends=0)
            self.assertIn('GET ' + fakes.GLANCE_URL, message)

    def test_no_image_endpoint_in_the_catalog(self):
        self.token.remove_service('image')
        message = self.assertFails('no image (Glance) endpoint', sends=0)
        self.assertIn('interface public in region RegionOne', message)

    def test_glance_unreachable_after_the_post_was_sent(self):
        self.requests.post(
            fakes.TASKS_URL, exc=requests.exceptions.ConnectTimeout
        )
        self.requests.get(
            fakes.TASKS_URL, exc=requests.exceptions.ConnectionError
        )
        message = self.assertFails('Glance did not answer POST')
        self.assertIn('cannot be asked whether it created', message)
        self.assertIn('Check with openstack image task list', message)

    def test_answers_that_are_not_a_task(self):
        # A task may have been made all the same: it is looked for.
        self.requests.get(fakes.TASKS_URL, json={'tasks': []})
        for sends, body in enumerate(('not json', '[1]', '"x"', '{}'), 1):
            self.requests.post(fakes.TASKS_URL, text=body, status_code=201)
            message = self.assertFails('Glance answered POST', sends)
            self.assertIn('not a task', message)
            self.assertIn('Glance shows no task with this input', message)

    def test_retries_of_the_cloud_never_resend_the_post(self):
        self.app.client_manager = self.client_manager(
            status_code_retries=5,
            connect_retries=5,
            image_status_code_retries=5,
            image_connect_retries=5,
            retriable_status_codes=[500, 502, 503, 504],
        )
        self.answer_post(500, text='boom', json=None)
        self.assertFails('(HTTP 500)')


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

    def test_polls_are_bounded_by_the_time_left(self):
        self.wait('processing', 'success', extra=('--wait-timeout', '30'))
        polls = [r for r in self.sent('GET') if r.path.endswith(fakes.TASK_ID)]
        self.assertEqual([30 - 0.25, 30 - 0.5], [r.timeout for r in polls])

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
        self.assertIn('Stopped waiting after 2.0 s', str(exc))
        self.assertIn('openstack image task wait ' + fakes.TASK_ID, str(exc))

    def test_ctrl_c_says_how_to_follow_the_task(self):
        self.answer_post()
        self.answer_polls({'exc': KeyboardInterrupt})
        parsed = self.parse('--type', 'import', '--input', GOOD, '--wait')
        self.assertRaises(KeyboardInterrupt, self.cmd.run, parsed)
        self.assertIn(
            'openstack image task wait ' + fakes.TASK_ID,
            self.app.stderr.getvalue(),
        )

    def test_ctrl_c_during_the_post_says_the_task_may_exist(self):
        self.requests.post(fakes.TASKS_URL, exc=KeyboardInterrupt)
        parsed = self.parse('--type', 'import', '--input', GOOD, '--wait')
        self.assertRaises(KeyboardInterrupt, self.cmd.run, parsed)
        stderr = self.app.stderr.getvalue()
        self.assertIn('may exist now: check with openstack image', stderr)
        self.assertNotIn('safe', stderr)

    def test_poll_failure_names_the_task(self):
        self.answer_post()
        self.answer_polls({'status_code': 403, 'text': 'no'})
        parsed = self.parse('--type', 'import', '--input', GOOD, '--wait')
        exc = self.assertRaises(exceptions.CommandError, self.cmd.run, parsed)
        self.assertIn('while waiting for task ' + fakes.TASK_ID, str(exc))


class TestWaitCommand(base.CommandTestCase):
    command = task.WaitTask

    def test_follows_a_task_to_its_end(self):
        self.answer_polls(
            {'json': fakes.task_attrs(status='processing')},
            {'json': fakes.task_attrs(status='success')},
        )
        shown = self.run_cmd(fakes.TASK_ID)
        self.assertEqual('success', shown['status'])
        self.assertEqual(2, len(self.sent('GET')) - 1)  # after the versions
        self.assertEqual([0.25], self.clock.sleeps[1:])

    def test_an_ended_task_is_shown_at_once(self):
        self.answer_polls({'json': fakes.task_attrs(status='success')})
        self.assertEqual('success', self.run_cmd(fakes.TASK_ID)['status'])
        self.assertEqual([0.0], self.clock.sleeps)

    def test_a_failed_task_is_shown_then_reported(self):
        self.answer_polls(
            {'json': fakes.task_attrs(status='failure', message='Bad\nx')}
        )
        parsed = self.parse(fakes.TASK_ID)
        exc = self.assertRaises(exceptions.CommandError, self.cmd.run, parsed)
        self.assertEqual('Task %s failed: Bad x' % fakes.TASK_ID, str(exc))
        self.assertIn('failure', self.app.stdout.getvalue())

    def test_unknown_task(self):
        self.answer_polls({'status_code': 404, 'text': 'gone'})
        exc = self.assertRaises(
            exceptions.CommandError, self.run_cmd, fakes.TASK_ID
        )
        self.assertIn('Glance has no task %s' % fakes.TASK_ID, str(exc))

    def test_a_malformed_id_is_refused_before_glance(self):
        self.assertRefused('"nope" is not a task ID', 'nope')

    def test_forms_of_a_uuid_are_normalised(self):
        self.answer_polls({'json': fakes.task_attrs(status='success')})
        self.run_cmd(fakes.TASK_ID.replace('-', '').upper())
        self.assertTrue(self.sent('GET')[-1].url.endswith(fakes.TASK_ID))
