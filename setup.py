"""Build the Cython kernels in etlcore/_fast/.

Set ETLCORE_PURE_PYTHON=1 at build time to skip compiling (the pure-Python
references are then used at run time).
"""

import os

from setuptools import setup

ext_modules = []
if os.environ.get("ETLCORE_PURE_PYTHON") != "1":
    from Cython.Build import cythonize

    ext_modules = cythonize(
        ["etlcore/_fast/*_c.pyx"],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )

setup(ext_modules=ext_modules)
