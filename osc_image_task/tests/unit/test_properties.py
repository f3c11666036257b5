# SPDX-License-Identifier: Apache-2.0

"""Properties of ``--input`` parsing over generated inputs.

100 examples a test by default; ``tox -e hypothesis`` runs 1000
(OSC_IMAGE_TASK_EXAMPLES).
"""

import io
import json
import os

import hypothesis
from hypothesis import strategies as st

from osc_image_task import task_input
from osc_image_task.tests import base

hypothesis.settings.register_profile(
    'osc-image-task',
    max_examples=int(os.environ.get('OSC_IMAGE_TASK_EXAMPLES', '100')),
    deadline=None,  # shared, noisy machines
)
hypothesis.settings.load_profile('osc-image-task')

TEXT = st.text(st.characters(exclude_categories=('Cs',)))
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner),
    max_leaves=20,
)
OBJECTS = st.dictionaries(TEXT, JSON)


class TestProperties(base.TestCase):
    @hypothesis.given(OBJECTS)
    def test_json_round_trip(self, value):
        for text in (json.dumps(value), json.dumps(value, indent=2)):
            self.assertEqual(value, task_input.parse_task_input(text))

    @hypothesis.given(OBJECTS)
    def test_single_quoted_round_trip(self, value):
        # Python's repr of the object is the single-quoted style.
        self.assertEqual(value, task_input.parse_task_input(repr(value)))

    @hypothesis.given(st.text())
    def test_any_text_gives_an_object_or_our_error(self, text):
        try:
            value = task_input.parse_task_input(text)
        except task_input.TaskInputError as exc:
            self.assertNotIn('\n', str(exc))
        else:
            self.assertIsInstance(value, dict)
            json.dumps(value, allow_nan=False).encode('utf-8')

    @hypothesis.given(st.binary())
    def test_any_bytes_on_stdin_give_text_or_our_error(self, data):
        try:
            text = task_input.read_task_input('-', io.BytesIO(data))
        except task_input.TaskInputError as exc:
            self.assertIn('--input -', str(exc))
        else:
            self.assertEqual(data.decode('utf-8'), text)
