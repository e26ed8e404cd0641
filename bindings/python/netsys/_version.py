"""The package version: the repository's VERSION file, the same as the C
library's MAJOR.MINOR.PATCH.

The build backend (``_build/backend.py``) takes the wheel's metadata version
from VERSION and writes it into this file inside the wheel; this source copy
(used when the package runs from the source tree) is checked against VERSION
by ``make test-version`` and updated by ``mk/set-version.sh``.
"""

__version__ = "1.2.0"
