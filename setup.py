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
# built into build/ (backends/_native.py loads them) when their framework is installed.
def _package_dir(name):
    spec = importlib.util.find_spec(name)  # finds the package without importing it
    return os.path.dirname(spec.origin) if spec and spec.origin else None


def tf_configure(ext):
    """The TF C API of the tensorflow wheel: its headers, its two libraries and an rpath."""
    tf_dir = _package_dir("tensorflow")
    ext.include_dirs += [os.path.join(tf_dir, "include")]
    ext.extra_objects += [
        os.path.join(tf_dir, f"libtensorflow_{n}.so.2") for n in ("cc", "framework")
    ]
    ext.runtime_library_dirs += [tf_dir]


def onnx_configure(ext):
    """Nothing to link: the runner gets the OrtApi of the wheel's ORT when it loads; the C
    API header is deps/onnxruntime/onnxruntime_c_api.h."""
    ext.include_dirs += ["deps"]
    ext.depends += ["deps/onnxruntime/onnxruntime_c_api.h"]


# (extension name, sources, the framework's Python package, configure)
C_RUNNERS = [
    ("_tf_native", ["backends/_tf_native.c"], "tensorflow", tf_configure),
    ("_onnx_native", ["backends/_onnx_native.c"], "onnxruntime", onnx_configure),
]


def c_runner_extensions():
    exts = []
    for name, sources, package, configure in C_RUNNERS:
        if _package_dir(package):
            ext = Extension(
                name,
                sources,
                include_dirs=["src"],
                extra_compile_args=["-std=gnu11", "-O2", "-g", "-Wall", "-Wvla"]
                + ["-fvisibility=hidden"],
                depends=["src/native_runner.h"],
            )
            configure(ext)
            exts.append(ext)
    return exts


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
        *c_runner_extensions(),
    ],
    cmdclass={"build_ext": BuildInto},
)
