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

"""Check .zuul.yaml as Zuul would load it, offline.

1. Every item is validated with the schema of Zuul's own parser for its
   kind (``zuul.configloader``: JobParser, ProjectParser,
   ProjectTemplateParser, NodeSetParser), from the zuul package on PyPI;
   an item of any other kind is an error.
2. Every job (as a parent or in a pipeline), project template, nodeset
   and pipeline that it names must be defined in .zuul.yaml or upstream.
   Upstream is read from the HEAD of git repositories given with
   ``--upstream`` (openstack/openstack-zuul-jobs, openstack/requirements
   and openstack/openstackclient); without them, from the index
   ``tools/zuul-upstream.json`` that ``--upstream ... --write-index``
   wrote from them: for each upstream name that .zuul.yaml
   uses, where it was found. Nodesets are defined in opendev's base-jobs,
   which are not read here: a nodeset counts as upstream when an upstream
   job uses it; a pipeline when an upstream template lists jobs in it.

Exit status 1 with one line per problem, 0 with a summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import json
import pathlib
import subprocess
import sys
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
INDEX = REPO / 'tools' / 'zuul-upstream.json'
KINDS = ('job', 'project', 'project-template', 'nodeset')
# Project keys that are not pipelines.
PROJECT_KEYS = frozenset(
    ('name', 'description', 'branches', 'vars', 'templates', 'merge-mode',
     'default-branch', 'queue')
)  # fmt: skip


def schemas() -> dict[str, Any]:
    """Zuul's voluptuous schema for each kind (no tenant is needed)."""
    from zuul import configloader  # type: ignore[import-not-found]

    return {
        'job': configloader.JobParser.schema,
        'project': configloader.ProjectParser(None).schema,
        'project-template': configloader.ProjectTemplateParser(None).schema,
        'nodeset': configloader.NodeSetParser(None).schema,
    }


class Loader(yaml.SafeLoader):
    """Reads Zuul's tagged values (secrets' ``!encrypted/pkcs1-oaep``) as
    nothing: only names matter here."""


Loader.add_multi_constructor('!', lambda loader, suffix, node: None)


def parse(text: str) -> list[dict[str, Any]]:
    return yaml.load(text, Loader=Loader) or []  # noqa: S506


def load(path: pathlib.Path) -> list[dict[str, Any]]:
    items = parse(path.read_text(encoding='utf-8'))
    if not isinstance(items, list):
        raise ValueError('%s: not a list of items' % path)
    return items


def validate(items: list[dict[str, Any]]) -> list[str]:
    """Schema errors, one line each."""
    import voluptuous

    checks = schemas()
    problems = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or len(item) != 1:
            problems.append('item %d: not a one-key mapping' % number)
            continue
        ((kind, body),) = item.items()
        if kind not in checks:
            problems.append('item %d: unknown kind %r' % (number, kind))
            continue
        name = body.get('name', '') if isinstance(body, dict) else ''
        try:
            checks[kind](body)
        except voluptuous.Invalid as exc:
            problems.append('%s %s: %s' % (kind, name, exc))
    return problems


def job_names(jobs: list[Any]) -> Iterator[str]:
    for entry in jobs or ():
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, dict):
            yield from entry


def pipelines(body: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    for key, value in body.items():
        if key not in PROJECT_KEYS and isinstance(value, dict):
            yield key, value.get('jobs') or []


def defined(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of what the items define."""
    return {
        (kind, body['name'])
        for item in items
        for kind, body in item.items()
        if kind in ('job', 'project-template', 'nodeset') and 'name' in body
    }


def used(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of what the items refer to: jobs, templates, nodesets
    (by name, not inline) and pipelines."""
    found = set()
    for item in items:
        for kind, body in item.items():
            if kind == 'job':
                if body.get('parent'):
                    found.add(('job', body['parent']))
                if isinstance(body.get('nodeset'), str):
                    found.add(('nodeset', body['nodeset']))
            if kind in ('project', 'project-template'):
                for template in body.get('templates') or ():
                    found.add(('project-template', template))
                for pipeline, jobs in pipelines(body):
                    found.add(('pipeline', pipeline))
                    found.update(('job', name) for name in job_names(jobs))
    return found


UPSTREAM_FILES = ('zuul.yaml', '.zuul.yaml', 'zuul.d/', '.zuul.d/')


def git(repo: pathlib.Path, *args: str) -> str:
    return subprocess.run(
        ['git', '--git-dir', str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def upstream(repos: list[str]) -> dict[str, str]:
    """'kind name' -> where it is defined (or, for nodesets and
    pipelines, used) at HEAD of the git repositories, each given as
    NAME=GIT_DIR."""
    where: dict[str, str] = {}
    for spec in repos:
        name, _, git_dir = spec.rpartition('=')
        repo = pathlib.Path(git_dir)
        commit = git(repo, 'rev-parse', 'HEAD').strip()
        listed = git(repo, 'ls-tree', '-r', '--name-only', 'HEAD').split()
        for path in listed:
            if not (
                path in UPSTREAM_FILES[:2]
                or (
                    path.startswith(UPSTREAM_FILES[2:])
                    and path.endswith('.yaml')
                )
            ):
                continue
            place = '%s@%s:%s' % (name or repo, commit[:12], path)
            items = parse(git(repo, 'show', 'HEAD:' + path))
            for kind, item_name in sorted(defined(items)):
                where.setdefault(
                    '%s %s' % (kind, item_name), 'defined in ' + place
                )
            for kind, item_name in sorted(used(items)):
                if kind in ('nodeset', 'pipeline'):
                    where.setdefault(
                        '%s %s' % (kind, item_name), 'used in ' + place
                    )
    return where


def check(
    config: pathlib.Path, known: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Problems, and the upstream names the config uses with where they
    are."""
    items = load(config)
    problems = validate(items)
    local = defined(items)
    found = {}
    for kind, name in sorted(used(items) - local):
        key = '%s %s' % (kind, name)
        if key in known:
            found[key] = known[key]
        else:
            problems.append('%s %s is defined nowhere' % (kind, name))
    return problems, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        '--config', type=pathlib.Path, default=REPO / '.zuul.yaml'
    )
    parser.add_argument(
        '--upstream',
        action='append',
        default=[],
        metavar='NAME=GIT_DIR',
        help='an upstream config repository, such as '
        'openstack/requirements=/path/to/requirements/.git (repeat)',
    )
    parser.add_argument('--index', type=pathlib.Path, default=INDEX)
    parser.add_argument(
        '--write-index',
        action='store_true',
        help='with --upstream: write the upstream names used to --index',
    )
    args = parser.parse_args(argv)
    if args.upstream:
        known = upstream(args.upstream)
    else:
        known = json.loads(args.index.read_text(encoding='utf-8'))
    problems, found = check(args.config, known)
    for problem in problems:
        print('%s: %s' % (args.config.name, problem), file=sys.stderr)
    if problems:
        return 1
    if args.write_index:
        args.index.write_text(
            json.dumps(found, indent=1, sort_keys=True) + '\n'
        )
    print(
        '%s: Zuul %s accepts every item; all %d upstream names found (%s)'
        % (
            args.config.name,
            zuul_version(),
            len(found),
            'checkouts' if args.upstream else args.index.name,
        )
    )
    return 0


def zuul_version() -> str:
    from importlib import metadata

    return metadata.version('zuul')


if __name__ == '__main__':
    sys.exit(main())
