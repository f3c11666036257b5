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

"""What older client stacks lack, in one place; each entry names the
versions, and ``tox -e floor`` (Wallaby's stack) tests the oldest."""

import typing
from typing import Any

from cliff import columns

# cliff before 4.9.0 (Wallaby to 2025.1): FormattableColumn is not generic
# at run time.
if typing.TYPE_CHECKING:
    FormattableColumn = columns.FormattableColumn[Any]
else:
    FormattableColumn = columns.FormattableColumn
