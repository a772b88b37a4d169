"""The built-in stages, one per module: auth, retry, tracing, idempotency, check.

Each is usable on its own (any ``(request, call_next)`` stack accepts them); the public
classes are re-exported from :mod:`eemw`.
"""
