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

"""Install the plugin into the client stack of a release, as an admin would.

For each release named (default: all of :data:`STACKS`), on the Python that
release's users run, this:

1. creates a venv holding only python-openstackclient under the release's
   upper-constraints (``upper-constraints/RELEASE.txt``);
2. runs a plain ``pip install`` of this repository into it and fails if
   that changed, added or removed any package but osc-image-task;
3. fails if any ``openstack`` command prints ``Could not load``, or if
   ``openstack image task create --help`` fails;
4. with ``--functional``, runs the functional suite with that venv's
   ``openstack`` (``OSC_IMAGE_TASK_OPENSTACK``) against the cloud that
   ``tools/local_cloud.py run`` hands it.

``tox -e functional-floor`` and ``tox -e functional-stacks`` run it. A
Python that is missing is an error, never a skip.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

from localcloud.venvs import find_python
from localcloud.venvs import pip_install_argv
from localcloud.venvs import pyenv_root
from localcloud.venvs import venv_argv

REPO = pathlib.Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / 'upper-constraints'
# Release -> the Python its users run: RHOSO 18 (2023.1) on RHEL 9's 3.9,
# Ubuntu 24.04 (2024.1) on 3.12, Debian 13 (2025.1) on 3.13; master on the
# Python the rest of the test suite uses.
STACKS = {
    '2023.1': '3.9',
    '2024.1': '3.12',
    '2025.1': '3.13',
    'master': '3.11',
}
PLUGIN = 'osc-image-task'


class StackError(Exception):
    """A check that failed, as one line."""


def run(
    argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail with the tail of its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise StackError(
            '%s exited %d:\n%s'
            % (' '.join(argv[:5]), done.returncode, done.stderr[-3000:])
        )
    return done


def interpreter(version: str) -> str:
    """The path of python<version>; fail loudly if there is none."""
    found = find_python((version,))
    if not found:
        raise StackError(
            'python%s is neither on PATH nor in %s/versions; see "Supported '
            'releases" in README.rst' % (version, pyenv_root())
        )
    return found


def freeze(venv: pathlib.Path) -> dict[str, str]:
    """The venv's packages: canonical name -> version."""
    listed = run(
        [
            str(venv / 'bin' / 'python'),
            '-m',
            'pip',
            'list',
            '--format=freeze',
            '--disable-pip-version-check',
        ]
    )
    packages = {}
    for line in listed.stdout.splitlines():
        name, _sep, version = line.partition('==')
        packages[name.lower().replace('_', '-')] = version
    return packages


def build(release: str, workdir: pathlib.Path) -> pathlib.Path:
    """The release's client venv with the plugin; check the install."""
    python = interpreter(STACKS[release])
    venv = workdir / release
    shutil.rmtree(venv, ignore_errors=True)
    run(venv_argv(venv, python))
    pip = pip_install_argv(venv, ['-q'])
    constraints = CONSTRAINTS / ('%s.txt' % release)
    run(pip + ['-c', str(constraints), 'python-openstackclient'])
    before = freeze(venv)
    run(pip + [str(REPO)])
    after = freeze(venv)
    changed = sorted(
        '%s %s -> %s' % (name, before.get(name), after.get(name))
        for name in set(before) | set(after)
        if name != PLUGIN and before.get(name) != after.get(name)
    )
    if changed:
        raise StackError(
            'pip install . changed the client stack: %s' % '; '.join(changed)
        )
    if PLUGIN not in after:
        raise StackError('pip install . did not install %s' % PLUGIN)
    openstack = str(venv / 'bin' / 'openstack')
    listed = run([openstack, 'command', 'list', '--group', 'image'])
    if 'Could not load' in listed.stderr:
        raise StackError('openstack command list: %s' % listed.stderr.strip())
    if 'image task create' not in listed.stdout:
        raise StackError('openstack command list has no image task create')
    run([openstack, 'image', 'task', 'create', '--help'])
    print(
        '%s: python %s, python-openstackclient %s, openstacksdk %s: pip '
        'install . changed no client package'
        % (
            release,
            STACKS[release],
            after['python-openstackclient'],
            after['openstacksdk'],
        ),
        file=sys.stderr,
    )
    return venv


def functional(release: str, venv: pathlib.Path) -> None:
    """Run the functional suite with the venv's openstack."""
    env = dict(
        os.environ, OSC_IMAGE_TASK_OPENSTACK=str(venv / 'bin' / 'openstack')
    )
    started = time.monotonic()
    tests = subprocess.run(
        [
            'stestr',
            '--test-path=./osc_image_task/tests/functional',
            'run',
            '--concurrency',
            '1',
        ],
        cwd=REPO,
        env=env,
    )
    print(
        '%s: functional suite exited %d after %.0f s'
        % (release, tests.returncode, time.monotonic() - started),
        file=sys.stderr,
    )
    if tests.returncode != 0:
        raise StackError('%s: the functional suite failed' % release)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        'releases',
        nargs='*',
        metavar='RELEASE',
        help='one of %s (default: all)' % ', '.join(STACKS),
    )
    parser.add_argument(
        '--workdir',
        type=pathlib.Path,
        default=REPO / '.tox' / 'client-stacks',
        help='where the venvs go (default: %(default)s)',
    )
    parser.add_argument(
        '--functional',
        action='store_true',
        help='run the functional suite with each stack',
    )
    args = parser.parse_args(argv)
    unknown = set(args.releases) - set(STACKS)
    if unknown:
        parser.error('unknown release: %s' % ', '.join(sorted(unknown)))
    failed = []
    for release in args.releases or list(STACKS):
        try:
            venv = build(release, args.workdir)
            if args.functional:
                functional(release, venv)
        except StackError as exc:
            print('%s: %s' % (release, exc), file=sys.stderr)
            failed.append(release)
    if failed:
        print('failed: %s' % ', '.join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
