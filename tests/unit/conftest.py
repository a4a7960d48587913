"""Unit tests import the bridge as a plain extension: build/cyrai_bridge*.so, the same
Cython code as in the Redis module but allocating with libc (`make build` makes it)."""

import os
import sys

BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
sys.path.insert(0, os.path.normpath(BUILD))
