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

"""Install the plugin into Debian's packaged client, as an admin would.

For each Debian suite named (default: all of :data:`SUITES`), as root:

1. ``build``: a chroot made by debootstrap from Debian's archive, holding
   apt's python3-openstackclient and python3-pip, cached in the work
   directory and reused while its recipe is unchanged (the three suites
   are built in parallel);
2. ``test``: builds a wheel of this repository on the host and installs it
   in each chroot the documented way (:data:`INSTALL`); fails if that
   changed or shadowed any Debian-packaged Python distribution, if the
   plugin's requirements are not met by the packaged ones, if any
   ``openstack`` command prints ``Could not load`` or if ``openstack image
   task create --help`` fails;
3. ``test --functional``: then runs the functional suite with the
   chroot's ``/usr/bin/openstack`` (``OSC_IMAGE_TASK_OPENSTACK``) against
   the cloud that ``tools/local_cloud.py run`` hands it on 127.0.0.1;
4. uninstalls the plugin the documented way and checks that the chroot's
   distributions are back as they were.

Every mount is made inside a private mount namespace (``unshare
--mount``) that ends with the command run in it, so no mount is ever left
behind, even when the tool is killed, and deleting a chroot can never
reach the host's directories. ``tox -e functional-debian`` runs it. A
missing debootstrap, a failed step or a failed check is an error, never a
skip.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from concurrent import futures
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from client_stacks import PLUGIN
from client_stacks import StackError
from client_stacks import functional
from client_stacks import run

REPO = pathlib.Path(__file__).resolve().parents[1]
MIRROR = 'http://deb.debian.org/debian'
# Suite -> what it is; sid's Python is the packaged 3.14 check.
SUITES = {
    'bookworm': 'Debian 12',
    'trixie': 'Debian 13',
    'sid': 'Debian unstable',
}
# The packaged client, pip for the documented install, and packaging to
# check the plugin's requirements against the packaged versions.
PACKAGES = ('python3-openstackclient', 'python3-pip', 'python3-packaging')
# The build chroot: a copy of the client chroot with what builds and
# checks a package; debian/control's Build-Depends come at each build,
# from apt-get build-dep. dpkg-buildpackage wants build-essential.
BUILD_PACKAGES = (
    'build-essential',
    'debhelper',
    'dh-python',
    'lintian',
    'autopkgtest',
)
# The binary package that debian/ builds.
DEB = 'python3-osc-image-task'
# Where the build chroot holds the copy of the checkout.
BUILD_DIR = '/build/osc-image-task'
# Bump to make every cached chroot be built again.
RECIPE = 1
# The documented commands (doc/source/install/index.rst), as root.
INSTALL = ('python3', '-m', 'pip', 'install', '--no-deps')
UNINSTALL = ('python3', '-m', 'pip', 'uninstall', '--yes')
PEP668 = '--break-system-packages'
DEBIAN_SITE = '/usr/lib/python3/dist-packages'
VERSIONS = (
    'python-openstackclient',
    'openstacksdk',
    'osc-lib',
    'cliff',
    'keystoneauth1',
)
# An admin's root shell, not this tool's environment (a tox venv).
ROOT_ENV = {
    'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'HOME': '/root',
    'LANG': 'C.UTF-8',
    'DEBIAN_FRONTEND': 'noninteractive',
}
# Run inside the chroot's python3: every distribution it sees.
LIST_DISTRIBUTIONS = """
import importlib.metadata, json, re, sys
print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3],
                  'distributions': sorted(
    [re.sub(r'[-_.]+', '-', str(d.metadata['Name'])).lower(), d.version,
     str(d.locate_file(''))] for d in importlib.metadata.distributions())}))
"""
# Run inside the chroot's python3: the plugin's unmet requirements.
UNMET_REQUIREMENTS = (
    """
import importlib.metadata as md
from packaging.requirements import Requirement
for line in md.requires('%s') or ():
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({'extra': ''}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        print('%%s (not installed)' %% req)
        continue
    if not req.specifier.contains(version, prereleases=True):
        print('%%s (has %%s)' %% (req, version))
"""
    % PLUGIN
)
# Runs "$@" in a chroot, in a mount namespace of its own (the caller runs
# it under unshare): /proc, and the directories named, at the same paths.
INNER = """#!/bin/sh
# Written by tools/debian_clients.py; runs under unshare --mount.
set -e
root=%(root)s
mount -t proc proc "$root/proc"
for dir in %(ro)s; do
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
    mount -o remount,bind,ro "$root$dir"
done
for dir in %(rw)s; do
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
done
exec chroot "$root" /usr/bin/env --chdir="$PWD" "$@"
"""
# The host's commands -> their Debian packages.
HOST_TOOLS = {
    'debootstrap': 'debootstrap',
    'unshare': 'util-linux',
    'chroot': 'coreutils',
    'mount': 'mount',
}
# Mounts made under it go away with the command it runs.
NAMESPACE = ('unshare', '--mount', '--propagation', 'private', '--')
OPENSTACK = """#!/bin/sh
# Written by tools/debian_clients.py: the %(suite)s chroot's openstack,
# with this environment and working directory.
exec %(namespace)s /bin/sh %(inner)s \\
    /usr/bin/openstack "$@"
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mounts_under(path: pathlib.Path) -> list[str]:
    """The host's mount points at or below `path`."""
    prefix = str(path.resolve())
    found = []
    with open('/proc/mounts', encoding='utf-8') as mounts:
        for line in mounts:
            point = line.split()[1].replace('\\040', ' ')
            if point == prefix or point.startswith(prefix + '/'):
                found.append(point)
    return found


def remove_chroot(root: pathlib.Path) -> None:
    """Delete a chroot, refusing if anything is mounted below it."""
    mounted = mounts_under(root)
    if mounted:
        raise StackError(
            'refusing to delete %s: mounted at %s (umount it first)'
            % (root, ', '.join(mounted))
        )
    if root.exists():
        shutil.rmtree(root)


class Chroot:
    """One suite's chroot under the work directory."""

    def __init__(
        self,
        suite: str,
        workdir: pathlib.Path,
        mirror: str,
        name: str | None = None,
        packages: tuple[str, ...] = PACKAGES,
    ):
        self.suite = suite
        self.mirror = mirror
        name = name or suite
        self.root = workdir / name
        # The output of every step, the last build's and test's.
        self.log = workdir / ('%s.log' % name)
        self.marker = workdir / ('%s.ready' % name)
        self.packages = packages
        self.recipe = {
            'suite': suite,
            'mirror': mirror,
            'packages': list(packages),
            'recipe': RECIPE,
        }

    def cached(self) -> bool:
        try:
            return bool(json.loads(self.marker.read_text()) == self.recipe)
        except (OSError, ValueError):
            return False

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the chroot as root, with /proc mounted."""
        script = INNER % {
            'root': shlex.quote(str(self.root)),
            'ro': '',
            'rw': '',
        }
        return self.namespaced(['/bin/sh', '-c', script, 'inner', *argv])

    def shell(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a shell script in the chroot, as :meth:`run` does."""
        return self.run('/bin/sh', '-c', script)

    def namespaced(
        self, argv: list[str], what: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in a mount namespace of its own, logging its output;
        fail with one line if it fails."""
        done = subprocess.run(
            [*NAMESPACE, *argv],
            capture_output=True,
            text=True,
            env=ROOT_ENV,
            cwd='/',
        )
        shown = what or shlex.join(
            argv[4:] if argv[:2] == ['/bin/sh', '-c'] else argv
        )
        with self.log.open('a', encoding='utf-8') as log:
            log.write(
                '$ %s\n%s%s[exit %d]\n'
                % (shown, done.stdout, done.stderr, done.returncode)
            )
        if done.returncode != 0:
            lines = [
                line.strip()
                for line in (done.stdout + '\n' + done.stderr).splitlines()
                if line.strip()
            ]
            errors = [
                line for line in lines if line.startswith(('E:', 'ERROR'))
            ]
            raise StackError(
                '%s exited %d: %s (log: %s)'
                % (
                    shown[:120],
                    done.returncode,
                    (errors or lines or ['no output'])[-1][:300],
                    self.log,
                )
            )
        return done

    def apt_options(self) -> list[str]:
        # sid's Release file may be past its Valid-Until date on a mirror.
        if self.suite == 'sid':
            return ['-o', 'Acquire::Check-Valid-Until=false']
        return []

    def apt_get(self, *args: str) -> None:
        self.run('apt-get', '-q', '-y', *self.apt_options(), *args)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the suite's lock: one build or test of a chroot at a time,
        whichever process runs it."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.root.parent / ('%s.lock' % self.suite)
        with open(lock_path, 'w', encoding='utf-8') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def build_locked(self, rebuild: bool, base: Chroot | None = None) -> str:
        """Debootstrap the chroot, or copy `base` (a chroot of the same
        suite, built), and install its packages."""
        if self.cached() and not rebuild:
            return 'cached chroot reused'
        self.marker.unlink(missing_ok=True)
        remove_chroot(self.root)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text('')
        started = time.monotonic()
        if base is not None:
            run(['cp', '-a', '--reflink=auto', str(base.root), str(self.root)])
            made = 'copy of %s' % base.root.name
        else:
            # debootstrap mounts /proc and /sys in the target: in a
            # namespace of its own, they go away with it whatever happens.
            self.namespaced(
                [
                    'debootstrap',
                    '--variant=minbase',
                    self.suite,
                    str(self.root),
                    self.mirror,
                ],
                what='debootstrap %s' % self.suite,
            )
            made = 'debootstrap'
            # No daemon may start in the chroot.
            policy = self.root / 'usr' / 'sbin' / 'policy-rc.d'
            policy.write_text('#!/bin/sh\nexit 101\n')
            policy.chmod(0o755)
        bootstrapped = time.monotonic()
        self.apt_get('update')
        self.apt_get('install', '--no-install-recommends', *self.packages)
        self.apt_get('clean')
        done = time.monotonic()
        self.marker.write_text(json.dumps(self.recipe))
        return '%s %.0f s, apt-get %.0f s' % (
            made,
            bootstrapped - started,
            done - bootstrapped,
        )

    def python(self, code: str) -> str:
        return self.run('/usr/bin/python3', '-c', code).stdout

    def distributions(self) -> tuple[str, list[list[str]]]:
        """The chroot's Python version and distributions."""
        listed = json.loads(self.python(LIST_DISTRIBUTIONS))
        return listed['python'], listed['distributions']

    def openstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run('/usr/bin/openstack', *args)

    def openstack_wrapper(
        self, rundir: pathlib.Path, ro_binds: list[str]
    ) -> pathlib.Path:
        """A bin/openstack that runs the chroot's, binding `rundir` (rw)
        and `ro_binds` (read-only) at the same paths; return bin's parent.
        """
        home = rundir / self.suite
        (home / 'bin').mkdir(parents=True)
        inner = home / 'inner'
        inner.write_text(
            INNER
            % {
                'root': shlex.quote(str(self.root)),
                'ro': ' '.join(shlex.quote(d) for d in ro_binds),
                'rw': shlex.quote(str(rundir)),
            }
        )
        wrapper = home / 'bin' / 'openstack'
        wrapper.write_text(
            OPENSTACK
            % {
                'suite': self.suite,
                'namespace': ' '.join(NAMESPACE),
                'inner': shlex.quote(str(inner)),
            }
        )
        wrapper.chmod(0o755)
        return home


def build_wheel(into: pathlib.Path) -> pathlib.Path:
    """A wheel of this repository, built on the host (pbr reads git)."""
    run(
        [
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '-q',
            '--no-deps',
            '--disable-pip-version-check',
            '-w',
            str(into),
            str(REPO),
        ]
    )
    wheels = sorted(into.glob('osc_image_task-*.whl'))
    if len(wheels) != 1:
        raise StackError(
            'pip wheel made %d wheels in %s' % (len(wheels), into)
        )
    return wheels[0]


def shadowing(
    distributions: list[list[str]], plugin_site: str | None
) -> list[str]:
    """Distributions that are not Debian's (or, for the plugin, not where
    pip as root puts it)."""
    return [
        '%s %s in %s' % (name, version, where)
        for name, version, where in distributions
        if where != (plugin_site if name == PLUGIN else DEBIAN_SITE)
    ]


def distributions_before(chroot: Chroot) -> tuple[str, list[list[str]]]:
    """The chroot's Python and distributions, all Debian's, before the
    install (removing a plugin that a stopped run left behind)."""
    python, before = chroot.distributions()
    if any(name == PLUGIN for name, _version, _where in before):
        chroot.run(*UNINSTALL, PEP668, PLUGIN)
        python, before = chroot.distributions()
    foreign = shadowing(before, None)
    if foreign:
        raise StackError('not from Debian: %s' % '; '.join(foreign))
    return python, before


def install(
    chroot: Chroot, wheel: pathlib.Path, python: str, before: list[list[str]]
) -> list[str]:
    """Install the plugin the documented way; fail if that changed or
    shadowed a Debian distribution.

    Returns the plugin's requirements that the packaged versions do not
    meet, which pip --no-deps does not check.
    """
    # Root's home in the chroot: nobody else writes there.
    inside = pathlib.Path('/root') / wheel.name
    copy = chroot.root / inside.relative_to('/')
    shutil.copy(wheel, copy)
    try:
        chroot.run(*INSTALL, PEP668, str(inside))
    finally:
        copy.unlink()
    _python, after = chroot.distributions()
    plugin_site = '/usr/local/lib/python%s/dist-packages' % '.'.join(
        python.split('.')[:2]
    )
    problems = shadowing(after, plugin_site)
    others = [entry for entry in after if entry[0] != PLUGIN]
    if others != before:
        problems.append(
            'distributions changed: %s'
            % '; '.join(
                '%s %s in %s' % tuple(entry)
                for entry in others + before
                if (entry in others) != (entry in before)
            )
        )
    if len(after) != len(before) + 1:
        problems.append('%s not installed once' % PLUGIN)
    if problems:
        raise StackError('; '.join(problems))
    versions = {name: version for name, version, _where in after}
    say(
        '%s (%s): Python %s, %s; %s %s installed in %s, no Debian '
        'distribution changed or shadowed'
        % (
            chroot.suite,
            SUITES[chroot.suite],
            python,
            ', '.join('%s %s' % (n, versions.get(n)) for n in VERSIONS),
            PLUGIN,
            versions[PLUGIN],
            plugin_site,
        )
    )
    unmet = chroot.python(UNMET_REQUIREMENTS).splitlines()
    return ['unmet requirement %s' % line for line in unmet]


def check_commands(chroot: Chroot) -> None:
    """No openstack command fails to load; ours is there and helps."""
    for args in (('command', 'list'), ('--help',)):
        done = chroot.openstack(*args)
        if 'Could not load' in done.stdout + done.stderr:
            raise StackError(
                'openstack %s: %s' % (' '.join(args), done.stderr.strip())
            )
        if args == ('command', 'list') and 'image task create' not in (
            done.stdout
        ):
            raise StackError('openstack command list has no image task create')
    chroot.openstack('image', 'task', 'create', '--help')


def uninstall(chroot: Chroot, before: list[list[str]]) -> None:
    """Uninstall the documented way; the chroot must be as it was."""
    chroot.run(*UNINSTALL, PEP668, PLUGIN)
    _python, after = chroot.distributions()
    if after != before:
        raise StackError(
            'pip uninstall did not leave the distributions as they were'
        )


def bind_dirs() -> list[str]:
    """What the CLI reads: this repository (the tests' working directory)
    and the directory of the cloud's clouds.yaml, if outside it."""
    dirs = [str(REPO)]
    clouds_yaml = os.environ.get('OS_CLIENT_CONFIG_FILE')
    if clouds_yaml:
        parent = pathlib.Path(clouds_yaml).resolve().parent
        if REPO not in parent.parents and parent != REPO:
            dirs.append(str(parent))
    return dirs


def host_tools() -> None:
    if os.geteuid() != 0:
        raise StackError('must run as root (debootstrap, chroot, mount)')
    missing = {
        tool: package
        for tool, package in HOST_TOOLS.items()
        if shutil.which(tool, path=ROOT_ENV['PATH']) is None
    }
    if missing:
        raise StackError(
            '%s not found; install with: apt-get install %s'
            % (', '.join(missing), ' '.join(missing.values()))
        )


def source_files() -> list[pathlib.Path]:
    """The checkout as git sees it: tracked and untracked files, less the
    ignored ones, with the edits not yet committed."""
    listed = run(
        [
            'git',
            '-C',
            str(REPO),
            'ls-files',
            '-z',
            '--cached',
            '--others',
            '--exclude-standard',
        ]
    ).stdout
    return sorted(
        pathlib.Path(name)
        for name in set(listed.split('\0'))
        if name and (REPO / name).is_file()
    )


def source_key(files: list[pathlib.Path]) -> str:
    """What a built package depends on: each file's name, mode and bytes."""
    digest = hashlib.sha256()
    for name in files:
        path = REPO / name
        digest.update(b'%s\0%o\0' % (bytes(name), path.stat().st_mode))
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def lintian_tags(output: str) -> list[str]:
    """lintian's E: and W: lines, the ones that fail the build."""
    return [line for line in output.splitlines() if line[:2] in ('E:', 'W:')]


class Package:
    """One suite's python3-osc-image-task, built in its build chroot."""

    def __init__(self, client: Chroot, workdir: pathlib.Path):
        self.suite = client.suite
        self.client = client
        self.builder = Chroot(
            client.suite,
            workdir,
            client.mirror,
            name='%s-build' % client.suite,
            packages=PACKAGES + BUILD_PACKAGES,
        )
        self.out = workdir / ('%s-deb' % client.suite)
        self.marker = self.out / 'build.json'

    def summary(self) -> dict[str, str | int | float]:
        summary: dict[str, str | int | float] = json.loads(
            self.marker.read_text()
        )
        return summary

    def deb(self) -> pathlib.Path:
        return self.out / str(self.summary()['deb'])

    def build(self, key: str, files: list[pathlib.Path]) -> str:
        """Build, lintian and autopkgtest the package unless one of this
        source is there; say what was done."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            if self.summary()['key'] == key and self.deb().is_file():
                return 'cached package reused'
        self.marker.unlink(missing_ok=True)
        build = self.builder.root / 'build'
        shutil.rmtree(build, ignore_errors=True)
        for name in files:
            copy = build / 'osc-image-task' / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy)
        apt = ' '.join(self.builder.apt_options())
        self.builder.shell(
            'cd %s && apt-get -q -y %s build-dep ./' % (BUILD_DIR, apt)
        )
        started = time.monotonic()
        self.builder.shell('cd %s && dpkg-buildpackage -us -uc -b' % BUILD_DIR)
        built = time.monotonic() - started
        debs = sorted(build.glob('%s_*_all.deb' % DEB))
        changes = sorted(build.glob('osc-image-task_*.changes'))
        if len(debs) != 1 or len(changes) != 1:
            raise StackError('dpkg-buildpackage made no single %s' % DEB)
        inside = '/build/%s' % changes[0].name
        # lintian exits non-zero on an error tag: the tags are read below.
        lintian = self.builder.shell(
            'lintian --display-info %s || true' % inside
        ).stdout
        started = time.monotonic()
        self.builder.shell(
            'autopkgtest /build/%s %s/ -- null; status=$?; '
            'apt-get -q -y purge %s; exit $status'
            % (debs[0].name, BUILD_DIR, DEB)
        )
        autopkgtest = time.monotonic() - started
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        shutil.copy2(debs[0], self.out / debs[0].name)
        (self.out / 'lintian.txt').write_text(lintian)
        self.marker.write_text(
            json.dumps(
                {
                    'key': key,
                    'deb': debs[0].name,
                    'size': debs[0].stat().st_size,
                    'build': round(built, 1),
                    'autopkgtest': round(autopkgtest, 1),
                    'lintian': lintian,
                }
            )
        )
        return 'package built'

    def report(self) -> str:
        """The package's name, size, build time and lintian's word."""
        summary = self.summary()
        lintian = str(summary['lintian']).strip()
        tags = lintian_tags(lintian)
        return (
            '%s, %.1f KiB; dpkg-buildpackage %.0f s, autopkgtest %.0f s; '
            'lintian: %s'
            % (
                summary['deb'],
                int(summary['size']) / 1024,
                float(summary['build']),
                float(summary['autopkgtest']),
                '; '.join(lintian.splitlines()) or 'no tags',
            )
            + (' (E:/W: FAIL)' if tags else '')
        )


def prepare(
    chroot: Chroot, rebuild: bool, key: str, files: list[pathlib.Path]
) -> str:
    """The client chroot, the build chroot and the package, under the
    suite's lock; what was done and how long it took."""
    package = Package(chroot, chroot.root.parent)
    with chroot.locked():
        steps = ['client: %s' % chroot.build_locked(rebuild)]
        steps.append(
            'build chroot: %s'
            % package.builder.build_locked(rebuild, base=chroot)
        )
        if chroot.suite == 'sid':
            # sid's Release file may be past its Valid-Until date, also
            # for autopkgtest's own apt-get update.
            conf = package.builder.root / 'etc/apt/apt.conf.d/99valid-until'
            conf.write_text('Acquire::Check-Valid-Until "false";\n')
        if rebuild:
            package.marker.unlink(missing_ok=True)
        started = time.monotonic()
        steps.append(package.build(key, files))
        steps.append('%.0f s' % (time.monotonic() - started))
        if lintian_tags(str(package.summary()['lintian'])):
            raise StackError('lintian: %s' % package.report())
    return '; '.join(steps)


def build_all(
    chroots: list[Chroot], rebuild: bool
) -> tuple[list[Chroot], list[str]]:
    """Build the chroots and the packages in parallel; return the suites
    built and the failed."""
    built, failed = [], []
    files = source_files()
    key = source_key(files)
    with futures.ThreadPoolExecutor(max_workers=len(chroots)) as pool:
        jobs = {
            pool.submit(prepare, c, rebuild, key, files): c for c in chroots
        }
        for job in futures.as_completed(jobs):
            chroot = jobs[job]
            try:
                say('%s: %s' % (chroot.suite, job.result()))
                say(
                    '%s: %s'
                    % (
                        chroot.suite,
                        Package(chroot, chroot.root.parent).report(),
                    )
                )
                built.append(chroot)
            except StackError as exc:
                say('%s: %s' % (chroot.suite, exc))
                failed.append(chroot.suite)
    order = list(SUITES)
    built.sort(key=lambda c: order.index(c.suite))
    return built, failed


def test(chroot: Chroot, wheel: pathlib.Path, with_suite: bool) -> None:
    """The pip route (install check), then the package route (with the
    functional suite if asked); failed checks after the install stop
    nothing and fail at the end."""
    with chroot.locked():
        chroot.log.write_text('')
        purge_package(chroot)
        python, before = distributions_before(chroot)
        problems = pip_route(chroot, wheel, python, before)
        problems += package_route(chroot, before, with_suite)
    if problems:
        raise StackError('; '.join(problems))


def pip_route(
    chroot: Chroot, wheel: pathlib.Path, python: str, before: list[list[str]]
) -> list[str]:
    """Install the wheel the documented pip way, check, uninstall."""
    try:
        problems = install(chroot, wheel, python, before)
        check_commands(chroot)
    except BaseException:
        # The error that stopped the test is the one to show; a plugin
        # left behind is removed by the next run.
        with contextlib.suppress(StackError):
            chroot.run(*UNINSTALL, PEP668, PLUGIN)
        raise
    uninstall(chroot, before)
    return problems


def dpkg_packages(chroot: Chroot) -> dict[str, str]:
    """Installed package -> version and status."""
    listed = chroot.run(
        'dpkg-query', '-W', '-f', '${Package} ${Version} ${Status}\n'
    ).stdout
    return dict(line.split(' ', 1) for line in listed.splitlines())


# The chroot's files that dpkg and the package may touch, kept in the
# chroot (/tmp is outside what it lists) to compare after the purge.
SNAPSHOT = 'find /usr /etc /var/lib/dpkg/info -xdev | LC_ALL=C sort > /tmp/%s'
FILES_CHANGED = (
    'LC_ALL=C comm -3 /tmp/files-before /tmp/files-after | head -20'
)


def purge_package(chroot: Chroot) -> None:
    """Purge the package if a stopped run left it installed."""
    if DEB in dpkg_packages(chroot):
        chroot.apt_get('purge', DEB)


def package_route(
    chroot: Chroot, before: list[list[str]], with_suite: bool
) -> list[str]:
    """apt-get install the .deb, check that apt added it alone and that
    every Python distribution is Debian's, check the commands, run the
    functional suite if asked, purge, and check the chroot is as it
    was."""
    deb = Package(chroot, chroot.root.parent).deb()
    packages = dpkg_packages(chroot)
    chroot.shell(SNAPSHOT % 'files-before')
    copy = chroot.root / 'root' / deb.name
    shutil.copy(deb, copy)
    problems = []
    try:
        chroot.apt_get(
            'install', '--no-install-recommends', '/root/' + deb.name
        )
        added = sorted(set(dpkg_packages(chroot)) - set(packages))
        if added != [DEB]:
            problems.append('apt-get install added %s' % ', '.join(added))
        _python, after = chroot.distributions()
        problems += shadowing(after, DEBIAN_SITE)
        others = [entry for entry in after if entry[0] != PLUGIN]
        if others != before or len(after) != len(before) + 1:
            problems.append('Python distributions changed beyond the plugin')
        say(
            '%s: apt-get install ./%s: added %s alone, %s in %s; nothing '
            'outside Debian, nothing shadowed'
            % (chroot.suite, deb.name, DEB, PLUGIN, DEBIAN_SITE)
        )
        check_commands(chroot)
        if with_suite:
            try:
                functional_in(chroot)
            except StackError as exc:
                problems.append(str(exc))
    finally:
        copy.unlink()
        chroot.apt_get('purge', DEB)
    chroot.shell(SNAPSHOT % 'files-after')
    changed = chroot.shell(FILES_CHANGED).stdout.split()
    if dpkg_packages(chroot) != packages or changed:
        problems.append(
            'apt-get purge left the chroot changed: %s'
            % (', '.join(changed) or 'dpkg status')
        )
    else:
        say('%s: apt-get purge %s: chroot as it was' % (chroot.suite, DEB))
    return problems


def functional_in(chroot: Chroot) -> None:
    """The functional suite with the chroot's openstack; the tests' temp
    files (TMPDIR) go to a directory that the chroot shares."""
    rundir = pathlib.Path(
        tempfile.mkdtemp(prefix='osc-image-task-%s-' % chroot.suite)
    )
    os.environ['TMPDIR'] = str(rundir)
    try:
        functional(chroot.suite, chroot.openstack_wrapper(rundir, bind_dirs()))
    except StackError:
        raise StackError(
            'the functional suite failed with /usr/bin/openstack'
        ) from None
    finally:
        del os.environ['TMPDIR']
        shutil.rmtree(rundir)
        # The mount point the chroot kept for it.
        with contextlib.suppress(OSError):
            (chroot.root / rundir.relative_to('/')).rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument('action', choices=('build', 'test'))
    parser.add_argument(
        'suites',
        nargs='*',
        metavar='SUITE',
        help='one of %s (default: all)' % ', '.join(SUITES),
    )
    parser.add_argument(
        '--workdir',
        type=pathlib.Path,
        default=REPO / '.tox' / 'debian-chroots',
        help='where the chroots are cached (default: %(default)s)',
    )
    parser.add_argument('--mirror', default=MIRROR, help='Debian archive')
    parser.add_argument(
        '--rebuild',
        action='store_true',
        help='build: build the chroots again even if cached',
    )
    parser.add_argument(
        '--functional',
        action='store_true',
        help='test: run the functional suite with each chroot',
    )
    args = parser.parse_intermixed_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error('unknown suite: %s' % ', '.join(sorted(unknown)))
    try:
        host_tools()
    except StackError as exc:
        say('debian_clients: %s' % exc)
        return 1
    workdir = args.workdir.resolve()
    chroots = [
        Chroot(suite, workdir, args.mirror) for suite in args.suites or SUITES
    ]
    started = time.monotonic()
    # test builds what is missing but never again what build just built.
    built, failed = build_all(chroots, args.rebuild and args.action == 'build')
    say(
        '%s ready after %.0f s'
        % (
            ' '.join(c.suite for c in built) or 'none',
            time.monotonic() - started,
        )
    )
    if args.action == 'test' and built:
        with tempfile.TemporaryDirectory() as wheels:
            try:
                wheel = build_wheel(pathlib.Path(wheels))
            except StackError as exc:
                say('debian_clients: %s' % exc)
                return 1
            for chroot in built:
                try:
                    test(chroot, wheel, args.functional)
                except StackError as exc:
                    say('%s: %s' % (chroot.suite, exc))
                    failed.append(chroot.suite)
    if failed:
        say('failed: %s' % ', '.join(failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
