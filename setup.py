"""Build script: compiles src/_core/*.pyx into the extension package smtpx._core, and the
per-message path's modules (smtpx.compiled.HOT_PATH) from their unchanged .py files.

With SMTPX_NO_EXTENSIONS=1, without Cython, or without a working C compiler, the
install still succeeds in pure Python (smtpx.kernels then selects the pure twins).
"""
import ast
import glob
import os
import sys

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Let a failed compile degrade to a pure-Python install instead of failing."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # one compiler per CPU unless asked otherwise (-j)
            self.parallel = os.cpu_count() or 1

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        sys.stderr.write(f"smtpx: a compile failed ({exc}); that part installs as pure Python.\n")


def hot_path():
    """smtpx.compiled.HOT_PATH, read from the source: the package cannot be imported here."""
    with open(os.path.join("src", "smtpx", "compiled.py"), encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "HOT_PATH":
            return ast.literal_eval(node.value)
    raise RuntimeError("src/smtpx/compiled.py defines no HOT_PATH")


def extensions():
    if os.environ.get("SMTPX_NO_EXTENSIONS") == "1":
        return []
    if sys.implementation.name != "cpython":
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        return []
    sources = sorted(glob.glob(os.path.join("src", "_core", "*.pyx")))
    exts = [
        Extension(
            "smtpx._core." + os.path.splitext(os.path.basename(src))[0],
            [src],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    kernels = cythonize(
        exts,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
    # Plain Python compiled as written: annotations are not C types (annotation_typing=False),
    # so the module does what its source says. -O1: as fast as -O3 here, a third of the
    # compile time (the generated C is large); no debug information (-g0), a quarter less again.
    modules = [
        Extension(name, [os.path.join("src", *name.split(".")) + ".py"], extra_compile_args=["-O1", "-g0"])
        for name in hot_path()
    ]
    return kernels + cythonize(
        modules,
        language_level=3,
        # nonecheck: an attribute typed in a .pxd (an extension type) that holds None raises
        # AttributeError, as in Python, instead of reading through a null pointer.
        compiler_directives={"annotation_typing": False, "binding": True, "nonecheck": True},
        nthreads=os.cpu_count() or 1,
    )


setup(
    package_dir={"": "src", "smtpx._core": "src/_core"},
    packages=[*find_packages("src", include=["smtpx", "smtpx.*"]), "smtpx._core"],
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
