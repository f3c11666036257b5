# SPDX-License-Identifier: Apache-2.0

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
