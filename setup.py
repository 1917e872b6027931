"""Build the Cython kernels in etlcore/_fast/.

Set ETLCORE_PURE_PYTHON=1 at build time to skip compiling (the pure-Python
references are then used at run time).
"""

import glob
import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("ETLCORE_PURE_PYTHON", "").strip().lower() not in ("1", "true", "yes", "on"):
    from Cython.Build import cythonize

    # Name each extension explicitly so it lands in etlcore._fast whatever
    # Cython would infer from __init__.py files; -O3 matters for the hash loops.
    ext_modules = cythonize(
        [
            Extension(
                "etlcore._fast." + os.path.basename(path)[: -len(".pyx")],
                [path],
                extra_compile_args=["-O3"],
            )
            for path in sorted(glob.glob("etlcore/_fast/*_c.pyx"))
        ],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )

setup(ext_modules=ext_modules)
