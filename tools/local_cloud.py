#!/usr/bin/env python3
"""Run a throwaway Keystone and Glance on 127.0.0.1 for osc-image-task.

The command line of the local cloud: `start`, `stop`, `status`,
`run -- CMD` and `demo` (see --help).  The tool itself is the package
tools/localcloud/, one module per concern.
"""

from __future__ import annotations

import sys

from localcloud.cli import main

if __name__ == "__main__":
    sys.exit(main())
