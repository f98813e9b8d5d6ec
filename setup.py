"""Build script: compiles src/_core/*.pyx into the extension package smtpx._core.

With SMTPX_NO_EXTENSIONS=1, without Cython, or without a working C compiler, the
install still succeeds in pure Python (smtpx.kernels then selects the pure twins).
"""
import glob
import os
import sys

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Let a failed compile degrade to a pure-Python install instead of failing."""

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
        sys.stderr.write(f"smtpx: building the C kernels failed ({exc}); installing pure Python.\n")


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
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


setup(
    package_dir={"": "src", "smtpx._core": "src/_core"},
    packages=[*find_packages("src", include=["smtpx", "smtpx.*"]), "smtpx._core"],
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
