# SPDX-License-Identifier: Apache-2.0

"""tools/zuul_check.py accepts .zuul.yaml and refuses broken copies of it.

Run by tox -e zuul, where the zuul package is installed.
"""

import contextlib
import io
import pathlib
import tempfile
import unittest

import zuul_check

CONFIG = zuul_check.REPO / '.zuul.yaml'


class TestZuulCheck(unittest.TestCase):
    def check(self, text: str) -> tuple[int, str]:
        with tempfile.TemporaryDirectory() as tmp:
            config = pathlib.Path(tmp) / '.zuul.yaml'
            config.write_text(text)
            err = io.StringIO()
            with (
                contextlib.redirect_stderr(err),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                status = zuul_check.main(['--config', str(config)])
        return status, err.getvalue()

    def broken(self, old: str, new: str) -> str:
        """Run the check on .zuul.yaml with `old` replaced once by `new`;
        it must fail: return what it printed."""
        text = CONFIG.read_text()
        self.assertIn(old, text)
        status, printed = self.check(text.replace(old, new, 1))
        self.assertEqual(1, status, printed)
        return printed

    def test_the_real_file_passes(self) -> None:
        self.assertEqual((0, ''), self.check(CONFIG.read_text()))

    def test_unknown_job_attribute(self) -> None:
        printed = self.broken(
            '    vars:\n      tox_envlist: floor',
            '    tox_envlist: floor',
        )
        self.assertIn(
            "job osc-image-task-floor: extra keys not allowed", printed
        )

    def test_bad_value(self) -> None:
        printed = self.broken('    timeout: 3600', '    timeout: an hour')
        self.assertIn('timeout', printed)

    def test_misspelled_parent_job(self) -> None:
        printed = self.broken(
            'parent: openstack-tox-functional',
            'parent: openstack-tox-functionl',
        )
        self.assertIn(
            'job openstack-tox-functionl is defined nowhere', printed
        )

    def test_misspelled_template(self) -> None:
        printed = self.broken(
            '- openstack-python3-next-jobs', '- openstack-python3-nxt-jobs'
        )
        self.assertIn(
            'project-template openstack-python3-nxt-jobs is defined nowhere',
            printed,
        )

    def test_unknown_pipeline(self) -> None:
        printed = self.broken('    check:\n', '    chek:\n')
        self.assertIn('pipeline chek is defined nowhere', printed)

    def test_unknown_nodeset(self) -> None:
        printed = self.broken(
            'nodeset: debian-bookworm', 'nodeset: debian-bookwork'
        )
        self.assertIn('nodeset debian-bookwork is defined nowhere', printed)

    def test_unknown_kind(self) -> None:
        printed = self.broken('- job:\n', '- jobs:\n')
        self.assertIn("unknown kind 'jobs'", printed)


if __name__ == '__main__':
    unittest.main()
