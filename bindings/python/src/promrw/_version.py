"""Version pins of the Python package and of the native library it wraps."""

#: Version of this Python package (the same as the Rust crate it is built from).
__version__ = "0.1.0"

#: The exact ``promrw_version()`` the wrapper was written for. Before 1.0 the C ABI may change
#: in any release, so the wrapper accepts only this version of ``libpromrw.so``.
LIBRARY_VERSION = "0.1.0"

#: ``PROMRW_VERSION_NUMBER`` of the header the declarations in ``_lib`` were written from.
LIBRARY_VERSION_NUMBER = 100
