"""The unit tests import two things that are not installed:

- the backends package, from the repository root (`import backends`), and from there the
  error texts the flow tests define (`from tests.flow.error_texts import WRONGTYPE`);
- the bridge as a plain extension, build/cyrai_bridge*.so: the same Cython code as in the
  Redis module but allocating with libc (`make build` makes it).

Both folders go on sys.path here, before pytest imports any test module."""

import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
for folder in (ROOT, os.path.join(ROOT, "build")):
    if folder not in sys.path:
        sys.path.insert(0, folder)
