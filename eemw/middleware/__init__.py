"""The built-in stages, one per module: auth, retry, tracing, idempotency, check.

These modules are private: import the stages and their settings from :mod:`eemw`
(``eemw.Auth``, ``eemw.Retry``, ``eemw.RetryPolicy``, ``eemw.Tracing``,
``eemw.Idempotency``, ``eemw.Check``). Each stage is usable on its own in any stack; the
helpers the modules share with each other are not part of the API and may change.
"""
