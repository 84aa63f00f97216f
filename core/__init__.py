"""agentotel.core: the rules every component shares, beneath all of them and importing none.

Light enough for the instrumentation: the standard library only.
"""
