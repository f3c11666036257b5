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
   upper-constraints (``upper-constraints/RELEASE.txt``), or reuses the one
   a previous run left, if it was built from the same constraints and
   Python and its check passed;
2. runs a plain ``pip install`` of this repository into it, the command
   the install guide gives for a venv, and fails if that changed, added or
   removed any package but osc-image-task;
3. fails if ``openstack --help``, which loads every command, prints
   ``Could not load`` for any, or if ``openstack image task create
   --help`` fails;
4. with ``--functional``, runs the functional suite with that venv's
   ``openstack`` (``OSC_IMAGE_TASK_OPENSTACK``) against the cloud that
   ``tools/local_cloud.py run`` hands it, one stack after the other.

Venvs are built two at a time while the suites run. At the end, a table
gives each stack's Python, client versions, test count and time.
``tox -e functional-stacks`` runs it. A Python that is missing is an
error, never a skip.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

from localcloud.venvs import find_python
from localcloud.venvs import pip_install_argv
from localcloud.venvs import pyenv_root
from localcloud.venvs import python_version
from localcloud.venvs import venv_argv

REPO = pathlib.Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / 'upper-constraints'
# Release -> the Python its users run: RHOSP 17.1 (Wallaby) and RHOSO 18
# (2023.1) on RHEL 9's 3.9, Ubuntu 22.04 (Yoga) on 3.10, Debian 12's
# Python (Zed) 3.11, Ubuntu 24.04 (2024.1) on 3.12, Debian 13 (2025.1) on
# 3.13, master on 3.14 and on the next, 3.15 (tools/debian_python.py). A
# name's "-pyXY" suffix only picks another Python for the same release.
STACKS = {
    'wallaby': '3.9',
    'yoga': '3.10',
    'zed': '3.11',
    '2023.1': '3.9',
    '2024.1': '3.12',
    '2025.1': '3.13',
    'master': '3.14',
    'master-py315': '3.15',
}
PLUGIN = 'osc-image-task'
# The client packages the summary names.
CLIENT = (
    'python-openstackclient',
    'openstacksdk',
    'osc-lib',
    'cliff',
    'keystoneauth1',
)
MARKER = 'client-stack-marker.json'
#: Held while pip builds the plugin from the checkout (see check_install).
PLUGIN_BUILD = threading.Lock()


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


def constraints_of(release: str) -> pathlib.Path:
    return CONSTRAINTS / ('%s.txt' % release.split('-py')[0])


def stack_marker(release: str, python: str) -> str:
    """What a reusable venv of the release must have been built from."""
    constraints = constraints_of(release)
    return json.dumps(
        {
            'constraints_sha256': hashlib.sha256(
                constraints.read_bytes()
            ).hexdigest(),
            'python': python_version(python) or python,
        }
    )


def client_venv(release: str, venv: pathlib.Path, python: str) -> None:
    """Make `venv` hold only the release's python-openstackclient: reuse
    the one a previous run left if its marker matches, else build it."""
    marker = venv / MARKER
    try:
        if marker.read_text() == stack_marker(release, python):
            marker.unlink()
            run(
                [
                    str(venv / 'bin' / 'python'),
                    '-m',
                    'pip',
                    'uninstall',
                    '-y',
                    '-q',
                    PLUGIN,
                ]
            )
            return
    except (OSError, StackError):
        pass
    shutil.rmtree(venv, ignore_errors=True)
    run(venv_argv(venv, python))
    constraints = constraints_of(release)
    pip = pip_install_argv(venv, ['-q', '-c', str(constraints)])
    run(pip + ['python-openstackclient'])


def build(release: str, workdir: pathlib.Path) -> pathlib.Path:
    """The release's client venv with the plugin; check the install.

    Only a venv whose check passed gets its marker back: the next run
    reuses it (the plugin uninstalled first), any other is built again.
    """
    python = interpreter(STACKS[release])
    venv = workdir / release
    client_venv(release, venv, python)
    check_install(release, venv)
    (venv / MARKER).write_text(stack_marker(release, python))
    return venv


def check_install(release: str, venv: pathlib.Path) -> None:
    """pip install the plugin; fail if that touched the client stack or
    if the plugin does not load."""
    before = freeze(venv)
    # pbr writes AUTHORS, ChangeLog and the egg-info into the checkout as
    # it builds: one build of the plugin at a time.
    with PLUGIN_BUILD:
        run(pip_install_argv(venv, ['-q', str(REPO)]))
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
    # --help loads every command's entry point, and cliff says "Could not
    # load" (or "Could not instantiate") on stdout for each that fails.
    listed = run([openstack, '--help'])
    broken = [
        line.strip()
        for line in (listed.stdout + listed.stderr).splitlines()
        if line.startswith('Could not')
    ]
    if broken:
        raise StackError('openstack --help: %s' % '; '.join(broken))
    if 'image task create' not in listed.stdout:
        raise StackError('openstack --help lists no image task create')
    run([openstack, 'image', 'task', 'create', '--help'])
    print(
        '%s: %s: pip install . changed no client package'
        % (release, versions(venv, after)),
        file=sys.stderr,
    )


def versions(venv: pathlib.Path, packages: dict[str, str]) -> str:
    """Python and client versions, for the report."""
    python = python_version(str(venv / 'bin' / 'python'))
    return 'Python %s, %s' % (
        python,
        ', '.join('%s %s' % (name, packages.get(name)) for name in CLIENT),
    )


def functional(release: str, venv: pathlib.Path) -> str:
    """Run the functional suite with the venv's openstack; its count and
    time."""
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
        stdout=subprocess.PIPE,
        text=True,
    )
    sys.stdout.write(tests.stdout)
    sys.stdout.flush()
    elapsed = time.monotonic() - started
    ran = re.search(r'^Ran: (\d+) tests?', tests.stdout, re.MULTILINE)
    summary = '%s tests in %.0f s' % (ran.group(1) if ran else '?', elapsed)
    print(
        '%s: functional suite exited %d: %s'
        % (release, tests.returncode, summary),
        file=sys.stderr,
    )
    if tests.returncode != 0:
        raise StackError('the functional suite failed (%s)' % summary)
    return summary


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
    releases = args.releases or list(STACKS)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report = {}
    failed = []
    # pip is mostly waiting on the network and on unpacking: two builds
    # at a time, while the suites run one after the other on one cloud.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        builds = {
            release: pool.submit(build, release, args.workdir)
            for release in releases
        }
        for release in releases:
            try:
                venv = builds[release].result()
                report[release] = versions(venv, freeze(venv))
                if args.functional:
                    report[release] += ': ' + functional(release, venv)
            except StackError as exc:
                print('%s: %s' % (release, exc), file=sys.stderr)
                report[release] = '%s FAILED: %s' % (
                    report.get(release, ''),
                    str(exc).splitlines()[0],
                )
                failed.append(release)
    for release in releases:
        print('%-8s %s' % (release, report[release]), file=sys.stderr)
    if failed:
        print('failed: %s' % ', '.join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
