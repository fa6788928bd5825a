"""Build glue for the optional C hot path; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sightline.media._fastrtp",
            ["src/sightline/media/_fastrtp.c"],
            extra_compile_args=["-O2"],
            # No compiler, no headers, not Linux: the pure-Python path runs instead.
            optional=True,
        )
    ]
)
