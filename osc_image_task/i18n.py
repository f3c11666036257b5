# SPDX-License-Identifier: Apache-2.0

"""Translation of user-facing strings (oslo.i18n)."""

from typing import Callable

import oslo_i18n

_: Callable[[str], str] = oslo_i18n.TranslatorFactory('osc_image_task').primary
