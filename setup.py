"""Build glue for the optional C hot path; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sightline.media._fastrtp",
            ["src/sightline/media/_fastrtp.c"],
            # -ffp-contract=off: no fused multiply-add, so the fast lane's RTCP jitter arithmetic
            # gives the same doubles as the Python reference (RtpPipeline.lane).
            extra_compile_args=["-O2", "-ffp-contract=off"],
            # No compiler, no headers, not Linux: the pure-Python path runs instead.
            optional=True,
        ),
        Extension(
            "sightline.sim._fastsend",
            ["src/sightline/sim/_fastsend.c"],
            extra_compile_args=["-O2"],
            optional=True,  # without it the simulator sends through the pure-Python path
        ),
    ]
)
