"""Development tools, never imported by the product: the harness of tests, benchmarks and the demo, the
`demo` command (added by starter.py in a checkout) and `make run` (tests/test_import_graph.py holds this)."""
