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

"""Install Debian sid's build of a Python that pyenv cannot download.

``python3 tools/debian_python.py 3.14`` does nothing if python3.14 is on
PATH or in pyenv's versions directory. Otherwise, as root, it:

1. debootstraps a minimal Debian sid tree holding ``python3.X``,
   ``python3.X-venv`` and ``libpython3.X-dev`` (debootstrap checks the
   archive's signatures) into ``$(pyenv root)/versions/X.Y.Z/debian-SUITE``;
2. makes that interpreter run on this machine rather than only in a
   chroot: patchelf points its ELF interpreter and RPATH at the tree's own
   glibc and libraries, the tree's ``sysconfig`` names the tree's
   ``/usr/share/python-wheels`` (where ``ensurepip`` finds pip), and its
   ``pyconfig.h`` the tree's own: a Python too new for wheels of every
   requirement (3.15: msgpack) compiles them with the host's gcc;
3. links ``$(pyenv root)/versions/X.Y.Z/bin/python3.X`` to it, so that
   tox, pyenv and ``tools/client_stacks.py`` find it like any other;
4. checks that it imports the modules that pip and the tests need, and
   that a venv made with it has a working pip.

Any failure stops it with a message and exit 1, and removes what it made,
so that nothing finds an interpreter that does not work. The contributor
guide says why 3.14 comes from Debian's binary packages.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from localcloud.venvs import find_python
from localcloud.venvs import pyenv_root
from localcloud.venvs import python_version

ARCHIVE = 'http://deb.debian.org/debian'
MULTIARCH = 'x86_64-linux-gnu'
# A Python without one of these is broken for pip, tox or the tests.
MODULES = ('bz2', 'ctypes', 'hashlib', 'lzma', 'sqlite3', 'ssl', 'zlib')


class SetupError(Exception):
    """Why it stopped, as one line (and the end of a command's output)."""


def run(argv: list[str]) -> str:
    """Run a command; its output, or SetupError with the end of it."""
    print(' '.join(argv), file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SetupError(
            '%s exited %d:\n%s'
            % (' '.join(argv[:3]), done.returncode, done.stderr[-3000:])
        )
    return done.stdout


def install_tools() -> None:
    """apt-get install debootstrap and patchelf if they are missing."""
    missing = [
        tool for tool in ('debootstrap', 'patchelf') if not shutil.which(tool)
    ]
    if missing:
        run(['apt-get', 'update', '-qq'])
        run(['apt-get', 'install', '-y', '-qq', *missing])


def relocate(tree: pathlib.Path, minor: str) -> pathlib.Path:
    """Make the tree's python3.X run outside the chroot; return it."""
    python = tree / 'usr' / 'bin' / ('python%s' % minor)
    libs = tree / 'usr' / 'lib' / MULTIARCH
    run(
        [
            'patchelf',
            '--set-interpreter',
            str(libs / 'ld-linux-x86-64.so.2'),
            # DT_RPATH, not RUNPATH: it also serves the libraries that the
            # extension modules load (libssl, libffi, ...).
            '--force-rpath',
            '--set-rpath',
            str(libs),
            str(python),
        ]
    )
    wheels = "'WHEEL_PKG_DIR': '/usr/share/python-wheels/'"
    stdlib = tree / 'usr' / 'lib' / ('python%s' % minor)
    patched = 0
    for data in stdlib.glob('_sysconfigdata_*.py'):
        text = data.read_text()
        if wheels in text:
            ours = "'WHEEL_PKG_DIR': '%s/usr/share/python-wheels/'" % tree
            data.write_text(text.replace(wheels, ours))
            patched += 1
    if not patched:
        raise SetupError('no WHEEL_PKG_DIR in %s/_sysconfigdata_*' % stdlib)
    # Debian's pyconfig.h includes the multiarch one with <...>, which the
    # compiler would look for in the host's /usr/include.
    header = tree / 'usr' / 'include' / ('python%s' % minor) / 'pyconfig.h'
    multiarch = '%s/python%s/pyconfig.h' % (MULTIARCH, minor)
    text = header.read_text()
    if '<%s>' % multiarch not in text:
        raise SetupError('%s does not include <%s>' % (header, multiarch))
    header.write_text(
        text.replace(
            '<%s>' % multiarch, '"%s/usr/include/%s"' % (tree, multiarch)
        )
    )
    return python


def check(python: pathlib.Path) -> None:
    """Fail unless the interpreter imports MODULES and makes a venv with
    a working pip."""
    run([str(python), '-c', 'import %s' % ', '.join(MODULES)])
    with tempfile.TemporaryDirectory() as tmp:
        venv = pathlib.Path(tmp) / 'venv'
        run([str(python), '-m', 'venv', str(venv)])
        run([str(venv / 'bin' / 'python'), '-m', 'pip', '--version'])


def install(minor: str, suite: str) -> pathlib.Path:
    """Debootstrap, relocate and check python<minor>; return its link."""
    if os.geteuid() != 0:
        raise SetupError('debootstrap needs root')
    install_tools()
    versions = pyenv_root() / 'versions'
    staging = versions / ('.debian-python%s' % minor)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tree = 'debian-%s' % suite
    try:
        packages = 'python%s,python%s-venv,libpython%s-dev' % ((minor,) * 3)
        run(
            [
                'debootstrap',
                '--variant=minbase',
                '--include=%s' % packages,
                suite,
                str(staging / tree),
                ARCHIVE,
            ]
        )
        inside = ['chroot', str(staging / tree), 'python%s' % minor]
        report = 'import platform; print(platform.python_version())'
        version = run([*inside, '-c', report]).strip()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    prefix = versions / version
    if prefix.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise SetupError(
            '%s exists but holds no working python%s; remove it'
            % (prefix, minor)
        )
    staging.rename(prefix)
    try:
        python = relocate(prefix / tree, minor)
        check(python)
        link = prefix / 'bin' / python.name
        link.parent.mkdir()
        link.symlink_to(python)
        if python_version(str(link)) != version:
            raise SetupError('%s does not run' % link)
    except BaseException:
        shutil.rmtree(prefix, ignore_errors=True)
        raise
    return link


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument('minor', metavar='X.Y', help='such as 3.14')
    parser.add_argument(
        '--suite',
        default='sid',
        help='the Debian suite to take it from (default: %(default)s)',
    )
    args = parser.parse_args(argv)
    found = find_python((args.minor,))
    if found:
        print(
            'python%s: %s, nothing to do' % (args.minor, found),
            file=sys.stderr,
        )
        return 0
    started = time.monotonic()
    try:
        python = install(args.minor, args.suite)
    except SetupError as exc:
        print('debian_python: %s' % exc, file=sys.stderr)
        return 1
    print(
        'python%s: %s, ready in %.0f s'
        % (args.minor, python, time.monotonic() - started),
        file=sys.stderr,
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
