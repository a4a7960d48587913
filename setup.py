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


# --- native runners ----------------------------------------------------------------------
# A backend's compiled extension that hands workers a native runner (src/native_runner.h).
# Each is built into build/ (backends/_native.py imports it from there) only when its
# framework is installed, and only when its sources changed: compiling against a
# framework's C++ headers takes minutes. `configure` fills the framework's include and
# library paths and flags just before a build, so an up-to-date tree never imports it.


def torch_configure(ext):
    """libtorch's headers, libraries and C++ ABI, as torch.utils.cpp_extension gives them."""
    import torch
    from torch.utils.cpp_extension import include_paths, library_paths

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    ext.include_dirs += include_paths()
    ext.library_dirs += library_paths()
    ext.runtime_library_dirs += library_paths()
    ext.libraries += ["c10", "torch", "torch_cpu", "torch_python"]
    ext.extra_compile_args += [
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        f"-DTORCH_EXTENSION_NAME={ext.name}",
    ]


def tf_configure(ext):
    """The TF C API of the tensorflow wheel: its headers, its two libraries and an rpath."""
    tf_dir = os.path.dirname(importlib.util.find_spec("tensorflow").origin)
    ext.include_dirs += [os.path.join(tf_dir, "include")]
    ext.extra_objects += [
        os.path.join(tf_dir, f"libtensorflow_{n}.so.2") for n in ("cc", "framework")
    ]
    ext.runtime_library_dirs += [tf_dir]


def onnx_configure(ext):
    """Nothing to link: the runner gets the OrtApi of the wheel's ORT when it loads; the C
    API header is deps/onnxruntime/onnxruntime_c_api.h."""
    ext.include_dirs += ["deps"]


# (extension name, sources, the framework's Python package, configure); a backend's
# native runner is added here with a configure function of its own.
NATIVE = [
    ("_torch_native", ["backends/_torch_native.cpp"], "torch", torch_configure),
    ("_tf_native", ["backends/_tf_native.c"], "tensorflow", tf_configure),
    ("_onnx_native", ["backends/_onnx_native.c"], "onnxruntime", onnx_configure),
]


def native_extension(name, sources, package, configure):
    cxx = any(src.endswith((".cpp", ".cc")) for src in sources)
    ext = Extension(
        name,
        sources,
        include_dirs=["src"],
        extra_compile_args=["-std=c++20" if cxx else "-std=gnu11", "-O2", "-Wall"]
        + ["-fvisibility=hidden"],
        language="c++" if cxx else "c",
        depends=["src/native_runner.h"],
    )
    ext.configure = configure
    return ext


def native_extensions():
    """The native runner extensions whose framework is installed."""
    return [
        native_extension(*spec) for spec in NATIVE if importlib.util.find_spec(spec[2]) is not None
    ]


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
        if getattr(ext, "configure", None):
            self.build_native(ext, final)
            return
        self.link_into_place(ext, final)

    def build_native(self, ext, final):
        """A native runner extension that fails to build leaves its backend on the Python
        run path (and the module built): say so loudly, drop any stale copy."""
        try:
            ext.configure(ext)
            self.link_into_place(ext, final)
        except Exception as e:  # noqa: BLE001 - any compiler or framework failure
            print(f"warning: {ext.name} not built ({e}); its backend runs through Python")
            if os.path.exists(final):
                os.remove(final)

    def link_into_place(self, ext, final):
        forced, self.linking, self.force = self.force, ext.name, True
        try:
            super().build_extension(ext)
        finally:
            self.linking, self.force = None, forced
        os.replace(final + ".tmp", final)


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
        *native_extensions(),
    ],
    cmdclass={"build_ext": BuildInto},
)
