"""agentotel.core: the rules every component shares, beneath all of them and importing none.

Settings, errors, version, durations, UTC time, Retry-After, secret masking and the GenAI vocabulary
(``semconv``) use the standard library only, so the instrumentation can import them inside users'
agent processes. ``anomaly`` (numpy/pandas/scipy/statsmodels) and ``yaml_lines`` (PyYAML) are
server-side; import-linter keeps the instrumentation away from them.
"""
