# SPDX-License-Identifier: Apache-2.0

"""Run the unit tests of the osc_image_task that this Python imports.

debian/rules runs it in pybuild's build directory, debian/tests/unit
against the installed package. The property tests need hypothesis 6.72
or later (``characters(exclude_categories=...)``); bookworm's 6.67 cannot
import them, so they are left out there, and the output says so.
"""

import inspect
import pkgutil
import sys
import unittest

from hypothesis import strategies

import osc_image_task.tests.unit

PROPERTIES = 'osc_image_task.tests.unit.test_properties'


def test_modules():
    package = osc_image_task.tests.unit
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(
            package.__path__, package.__name__ + '.'
        )
        if not info.ispkg and info.name.rsplit('.', 1)[1].startswith('test_')
    )
    params = inspect.signature(strategies.characters).parameters
    if 'exclude_categories' not in params:
        print('hypothesis too old: %s left out' % PROPERTIES, flush=True)
        names.remove(PROPERTIES)
    return names


def main():
    print(
        'Python %s, %s' % (sys.version.split()[0], osc_image_task.__file__),
        flush=True,
    )
    suite = unittest.defaultTestLoader.loadTestsFromNames(test_modules())
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == '__main__':
    sys.exit(main())
