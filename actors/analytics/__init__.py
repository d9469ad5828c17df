"""The pure numerical core: option pricing, implied volatility, greeks and chain metrics.

Everything here is a function over float64 numpy arrays. No I/O, no clocks, no globals,
no logging: a bad number yields NaN (plus, where useful, a reason mask), never an exception
per strike. Shape errors raise ``ValueError``.
"""
