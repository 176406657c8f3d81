"""Numba kernels: plain array functions, jitted in one place, compiled lazily on first call.

No classes, no I/O. Each kernel keeps its pure-Python original as ``kernel.py_func`` (tests compare
against it). ``cache=True`` is used only for serial kernels that take no function arguments.
Fastmath is restricted to {"reassoc", "contract"} so that NaN and inf checks stay valid.
"""

FASTMATH = {"reassoc", "contract"}
