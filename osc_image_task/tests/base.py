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

"""osc-lib's test base classes, from wherever the installed osc-lib has them.

osc-lib 4.x made them public as ``osc_lib.test.base`` and deprecated
``osc_lib.tests.utils``; the osc-lib of OpenStack 2023.1 to 2025.1 (2.7.0 to
4.0.x) has only the latter.
"""

try:
    from osc_lib.test.base import ParserException
    from osc_lib.test.base import TestCase
    from osc_lib.test.base import TestCommand
except ImportError:
    from osc_lib.tests.utils import ParserException
    from osc_lib.tests.utils import TestCase
    from osc_lib.tests.utils import TestCommand

__all__ = ['ParserException', 'TestCase', 'TestCommand']
