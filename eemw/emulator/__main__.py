from ._cli import serve

raise SystemExit(serve())
