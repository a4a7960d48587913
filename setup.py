"""Builds cyrai: the Redis module (build/cyrai.so: the C core, the interpreter start-up
and the Cython bridge in one shared object, linked to libpython) and, for unit tests, the
same bridge as an importable extension (build/cyrai_bridge*.so) that allocates with libc.

    python setup.py build_ext      # what `make build` runs
"""

import glob
import importlib.util
import os
import subprocess
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.modified import newer_group

ROOT = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join("build", "cython")
try:
    GIT_SHA = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "unknown"
    )
except OSError:
    GIT_SHA = "unknown"
LIBDIR = sysconfig.get_config_var("LIBDIR")
PYLIB = "python" + sysconfig.get_config_var("LDVERSION")

bridge_c = cythonize(
    [Extension("cyrai_bridge", ["pyx/cyrai_bridge.pyx"], include_dirs=["pyx", "src", "deps"])],
    build_dir=GEN,
    compiler_directives={"language_level": 3},
)[0].sources[0]

common = {
    "include_dirs": ["src", "pyx", "deps", os.path.dirname(bridge_c)],
    "define_macros": [("CYRAI_ROOT", f'"{ROOT}"'), ("CYRAI_GIT_SHA", f'"{GIT_SHA}"')],
    "extra_compile_args": ["-std=gnu11", "-O2", "-g", "-Wall", "-Wvla", "-Wno-unused-function"],
    "libraries": [PYLIB],
    "library_dirs": [LIBDIR],
    "runtime_library_dirs": [LIBDIR],
    "depends": glob.glob("src/*.h") + glob.glob("pyx/*.h"),
}
core = sorted(glob.glob("src/*.c")) + ["pyx/interp.c"]


class BuildInto(build_ext):
    """Writes the extensions to build/, the module under the plain name Redis loads.

    A changed extension is linked to a temporary file and renamed into place: a server
    that loads the module while it is being rebuilt gets the old file or the new one,
    never half of one."""

    linking = None  # the extension being linked, whose output goes to a temporary name

    def final_path(self, name):
        filename = "cyrai.so" if name == "cyrai" else self.get_ext_filename(name)
        return os.path.join(ROOT, "build", filename)

    def get_ext_fullpath(self, name):
        path = self.final_path(name)
        return path + ".tmp" if name == self.linking else path

    def build_extension(self, ext):
        final = self.final_path(ext.name)
        if not (self.force or newer_group(ext.sources + ext.depends, final, "newer")):
            return
        forced, self.linking, self.force = self.force, ext.name, True
        try:
            super().build_extension(ext)
        finally:
            self.linking, self.force = None, forced
        os.replace(final + ".tmp", final)


# The TF and ONNX native runners (src/native_runner.h): C extensions of their backends,
# built into build/ (backends/_native.py loads them). A framework missing from the venv
# only drops its own.
def _package_dir(name):
    spec = importlib.util.find_spec(name)  # finds the package without importing it
    return os.path.dirname(spec.origin) if spec and spec.origin else None


def _runner_extension(name, sources, **kwargs):
    c_flags = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wvla", "-fvisibility=hidden"]
    return Extension(
        name,
        sources,
        include_dirs=["src", "deps", *kwargs.pop("include_dirs", [])],
        extra_compile_args=c_flags,
        depends=["src/native_runner.h"],
        **kwargs,
    )


def tf_runner():
    """The TF runner, linked to the TF C API libraries of the tensorflow wheel."""
    tf_dir = _package_dir("tensorflow")
    if not tf_dir:
        return []
    libs = [os.path.join(tf_dir, f"libtensorflow_{n}.so.2") for n in ("cc", "framework")]
    return [
        _runner_extension(
            "_tf_native",
            ["backends/_tf_native.c"],
            include_dirs=[os.path.join(tf_dir, "include")],
            extra_objects=libs,
            runtime_library_dirs=[tf_dir],
        )
    ]


def onnx_runner():
    """The ONNX Runtime runner: nothing to link, it gets the OrtApi of the wheel's ORT."""
    if not _package_dir("onnxruntime"):
        return []
    return [_runner_extension("_onnx_native", ["backends/_onnx_native.c"])]


setup(
    name="cyrai",
    version="0.1.0",
    description="A Redis module that runs deep-learning models where the data lives",
    license="MIT",
    packages=["backends"],
    ext_modules=[
        # The soname lets ONNX Runtime open the loaded module as a custom-op library by
        # name (src/onnx_memory.c).
        Extension("cyrai", core + [bridge_c], extra_link_args=["-Wl,-soname,cyrai.so"], **common),
        Extension("cyrai_bridge", core + ["pyx/standalone.c", bridge_c], **common),
        *tf_runner(),
        *onnx_runner(),
    ],
    cmdclass={"build_ext": BuildInto},
)
