"""Builds cyrai: the Redis module (build/cyrai.so: the C core, the interpreter start-up
and the Cython bridge in one shared object, linked to libpython) and, for unit tests, the
same bridge as an importable extension (build/cyrai_bridge*.so) that allocates with libc.

    python setup.py build_ext      # what `make build` runs: everything into build/
    pip install .                  # the `cyrai` package into the running environment
    pip wheel --no-build-isolation .

The package (a wheel) holds the Python package cyrai/ (`python -m cyrai`, `cyrai-server`),
the module as cyrai/cyrai.so, the backends as cyrai/backends/ and the native runners
built for the frameworks of the building environment beside them. Nothing in the module
names the machine it was built on: it finds its environment when it loads
(pyx/python_env.h).
"""

import glob
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext
from setuptools.modified import newer_group

ROOT = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join("build", "cython")
NATIVE_RECORD = "native_runners.json"  # read by backends/_native.py
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

# Debug information and __FILE__ name sources relative to the checkout, not by its path.
NO_BUILD_PATHS = [f"-ffile-prefix-map={ROOT}/=", f"-ffile-prefix-map={ROOT}=."]
common = {
    "include_dirs": ["src", "pyx", "deps", os.path.dirname(bridge_c)],
    "define_macros": [("CYRAI_GIT_SHA", f'"{GIT_SHA}"')],
    "extra_compile_args": ["-std=gnu11", "-O2", "-g", "-Wall", "-Wvla", "-Wno-unused-function"]
    + NO_BUILD_PATHS,
    "libraries": [PYLIB],
    "library_dirs": [LIBDIR],
    "runtime_library_dirs": [LIBDIR],
    "depends": glob.glob("src/*.h") + glob.glob("pyx/*.h"),
}
core = sorted(glob.glob("src/*.c")) + ["pyx/interp.c", "pyx/python_env.c"]


# --- native runners ----------------------------------------------------------------------
# A backend's compiled extension that hands workers a native runner (src/native_runner.h).
# Each is built into build/ (backends/_native.py imports it from there) only when its
# framework is installed, and only when its sources changed: compiling against a
# framework's C++ headers takes minutes. `configure` fills the framework's include and
# library paths and flags just before a build, so an up-to-date tree never imports it.


def relative_rpaths(lib_dirs, package_dir):
    """$ORIGIN-relative rpaths to a framework's library folders, valid both from a runner
    in build/ (a checkout) and from one in site-packages/cyrai/backends/ (installed): no
    path of the build machine. The framework has loaded these libraries before its runner
    anyway; the rpaths only make the runner loadable on its own."""
    site = os.path.dirname(package_dir)
    build = os.path.join(ROOT, "build")
    rpaths = []
    for lib in lib_dirs:
        rpaths += [f"$ORIGIN/../../{os.path.relpath(lib, site)}"]
        rpaths += [f"$ORIGIN/{os.path.relpath(lib, build)}"]
    return rpaths


def torch_configure(ext):
    """libtorch's headers, libraries and C++ ABI, as torch.utils.cpp_extension gives them."""
    import torch
    from torch.utils.cpp_extension import include_paths, library_paths

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    ext.include_dirs += include_paths()
    ext.library_dirs += library_paths()
    ext.runtime_library_dirs += relative_rpaths(library_paths(), os.path.dirname(torch.__file__))
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
    ext.runtime_library_dirs += relative_rpaths([tf_dir], tf_dir)


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
        + ["-fvisibility=hidden"]
        + NO_BUILD_PATHS,
        language="c++" if cxx else "c",
        depends=["src/native_runner.h"],
    )
    ext.configure = configure
    ext.framework = package
    return ext


def native_extensions():
    """The native runner extensions whose framework is installed."""
    return [
        native_extension(*spec) for spec in NATIVE if importlib.util.find_spec(spec[2]) is not None
    ]


def distribution_of(package):
    """The installed distribution that provides an import package (tensorflow-cpu for
    tensorflow), and its version."""
    dist = importlib.metadata.packages_distributions().get(package, [package])[0]
    return dist, importlib.metadata.version(dist)


def record_native_runners(extensions, folder):
    """Writes <folder>/native_runners.json: for each native runner there, the framework
    distribution and version it was built against (backends/_native.py loads a runner only
    where the same version is installed: a libtorch ABI is not stable across versions).
    Runners built now are recorded; the record of one left from an earlier build whose
    framework this environment lacks (an isolated `pip wheel`) is kept."""
    path = os.path.join(folder, NATIVE_RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    for ext in extensions:
        if getattr(ext, "framework", None):
            record[ext.name] = distribution_of(ext.framework)
    record = {
        name: built
        for name, built in record.items()
        if glob.glob(os.path.join(folder, name + ".*.so"))
    }
    with open(path, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)


class BuildInto(build_ext):
    """Writes the extensions to build/, the module under the plain name Redis loads.

    A changed extension is linked to a temporary file and renamed into place: a server
    that loads the module while it is being rebuilt gets the old file or the new one,
    never half of one."""

    linking = None  # the extension being linked, whose output goes to a temporary name

    def run(self):
        super().run()
        record_native_runners(self.extensions, os.path.join(ROOT, "build"))

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


class BuildPackage(build):
    """The build of a wheel or an install: the extensions into build/ as `make build` does
    (only what changed is compiled), then copied into the package: the module as
    cyrai/cyrai.so, the native runners built for this environment's frameworks into
    cyrai/backends/ with their record. Runners of frameworks absent here are left out (their
    backends run through Python): say so."""

    def run(self):
        super().run()
        package = os.path.join(self.build_lib, "cyrai")
        backends = os.path.join(package, "backends")
        for stale in glob.glob(os.path.join(package, "*.so")) + glob.glob(
            os.path.join(backends, "*.so")
        ):
            os.remove(stale)
        built = os.path.join(ROOT, "build")
        shutil.copy2(os.path.join(built, "cyrai.so"), os.path.join(package, "cyrai.so"))
        natives = native_extensions()
        for ext in natives:
            for path in glob.glob(os.path.join(built, ext.name + ".*.so")):
                shutil.copy2(path, backends)
        if os.path.exists(os.path.join(backends, NATIVE_RECORD)):
            os.remove(os.path.join(backends, NATIVE_RECORD))  # a stale one of an earlier build
        record_native_runners(natives, backends)
        missing = sorted({spec[2] for spec in NATIVE} - {ext.framework for ext in natives})
        if missing:
            print(f"note: no native runner for {', '.join(missing)} (not installed here)")


setup(
    name="cyrai",
    version="0.1.0",
    description="A Redis module that runs deep-learning models where the data lives",
    license="MIT",
    python_requires=">=3.11,<3.12",  # the module links this Python's libpython
    packages=["cyrai", "cyrai.backends"],
    package_dir={"cyrai.backends": "backends"},
    install_requires=["numpy"],
    extras_require={"torch": ["torch"], "onnx": ["onnxruntime", "onnx"], "tf": ["tensorflow-cpu"]},
    entry_points={"console_scripts": ["cyrai-server = cyrai.server:main"]},
    ext_modules=[
        # The soname lets ONNX Runtime open the loaded module as a custom-op library by
        # name (src/onnx_memory.c).
        Extension("cyrai", core + [bridge_c], extra_link_args=["-Wl,-soname,cyrai.so"], **common),
        Extension("cyrai_bridge", core + ["pyx/standalone.c", bridge_c], **common),
        *native_extensions(),
    ],
    cmdclass={"build_ext": BuildInto, "build": BuildPackage},
)
