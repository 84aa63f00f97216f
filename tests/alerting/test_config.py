"""The rules file's pydantic models: every error is one line naming the file, the line of the offending
value and the rule (``file:line: rule 'id': field: problem``), in every section of a realistic file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentotel.alerting.config import RuleError, load_rules, parse_rules
from agentotel.alerting.rules.threshold import ThresholdRule
from agentotel.cli import main

FILE = """\
settings:
  evaluation_interval: 30s
  dedup_window: 5m
channels:
  chat:
    type: slack
    url_env: AGENTOTEL_TEST_SLACK
    rate_limit: {count: 20, per: 1m}
  mail:
    type: email
    host: smtp.example.com
    from: alerts@example.com
    to: oncall@example.com
escalation_policies:
  default:
    - {after: 0s, channels: [chat]}
    - after: 15m
      channels: [mail]
rules:
  - id: errors
    type: threshold
    metric: error_rate
    group_by: [agent]
    op: ">"
    value: 0.05
    for: 5m
    labels: {team: ml}
  - id: burn
    type: anomaly
    metric: tokens
    lookback: 2h
"""


def error_of(text: str) -> RuleError:
    with pytest.raises(RuleError) as info:
        parse_rules(text, "alerts.yaml")
    return info.value


def test_the_valid_file_loads_with_typed_values():
    config = parse_rules(FILE, "alerts.yaml")
    assert config.settings.evaluation_interval == timedelta(seconds=30)
    assert config.channels["chat"].rate_limit == (20, timedelta(minutes=1))
    assert config.channels["mail"].options["from"] == "alerts@example.com"
    assert [t.after for t in config.policies["default"]] == [timedelta(0), timedelta(minutes=15)]
    errors = config.rule("errors")
    assert isinstance(errors, ThresholdRule)
    assert (errors.line, errors.for_, errors.labels) == (20, timedelta(minutes=5), {"team": "ml"})
    assert config.rule("burn").line == 28


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # wrong type: the line of the value, the rule, the field, what was given
        ("    value: 0.05\n", "    value: lots\n", "alerts.yaml:25: rule 'errors': value: must be a number, not 'lots'"),
        ("    group_by: [agent]\n", "    group_by: {agent: 1}\n",
         "alerts.yaml:23: rule 'errors': group_by: must be a list of label names"),
        ("    labels: {team: ml}\n", "    labels: [ml]\n", "alerts.yaml:27: rule 'errors': labels: must be a mapping, not a list"),
        ("  dedup_window: 5m\n", "  dedup_window: [5m]\n",
         "alerts.yaml:3: settings.dedup_window: not a duration: ['5m'] (use e.g. 30s, 5m, 1h, 2d; a bare number means days)"),
        # unknown key: the line of the key, the allowed keys named
        ("    lookback: 2h\n", "    lookback: 2h\n    treshold: 4\n",
         "alerts.yaml:32: rule 'burn': unknown key 'treshold' (allowed: annotations, direction, escalation, filters, for, "
         "group_by, id, keep_firing_for, labels, lookback, message, method, metric, min_points, season, severity, step, "
         "threshold, type)"),
        ("    url_env: AGENTOTEL_TEST_SLACK\n", "    url_env: AGENTOTEL_TEST_SLACK\n    channel: '#ops'\n",
         "alerts.yaml:8: channel 'chat': unknown option 'channel' for a slack channel "
         "(allowed: timeout, url, url_env, url_file)"),
        ("  dedup_window: 5m\n", "  dedup_window: 5m\n  retries: 3\n",
         "alerts.yaml:4: settings: unknown key 'retries' (allowed: allow_hosts, backoff_base, backoff_max, "
         "dedup_window, evaluation_interval, group_interval, group_wait, max_attempts, namespace, redelivery_lease, "
         "repeat_interval)"),
        # missing field: the line of the mapping that lacks it
        ("    metric: tokens\n", "", "alerts.yaml:28: rule 'burn': metric: is required"),
        ("    host: smtp.example.com\n", "", "alerts.yaml:9: channel 'mail': host: is required"),
        ("  - id: burn\n", "  - severity: info\n", "alerts.yaml:28: rule #2: id: is required"),
        # bad duration
        ("    for: 5m\n", "    for: five minutes\n",
         "alerts.yaml:26: rule 'errors': for: not a duration: 'five minutes' (use e.g. 30s, 5m, 1h, 2d; a bare number "
         "means days)"),
        ("    lookback: 2h\n", "    lookback: -2h\n",
         "alerts.yaml:31: rule 'burn': lookback: not a duration: '-2h' (use e.g. 30s, 5m, 1h, 2d; a bare number means days)"),
        ("    - after: 15m\n", "    - after: later\n",
         "alerts.yaml:17: escalation policy 'default': tier 2: after: not a duration: 'later' (use e.g. 30s, 5m, 1h, 2d; "
         "a bare number means days)"),
        ("    rate_limit: {count: 20, per: 1m}\n", "    rate_limit: {count: 20, per: often}\n",
         "alerts.yaml:8: channel 'chat': rate_limit.per: not a duration: 'often' (use e.g. 30s, 5m, 1h, 2d; a bare "
         "number means days)"),
        # unknown channel in an escalation policy: the line of the tier's list item
        ("      channels: [mail]\n", "      channels:\n        - mail\n        - pager\n",
         "alerts.yaml:20: escalation policy 'default': tier 2: unknown channel 'pager'"),
        # a choice, a rule type and a channel type
        ('    op: ">"\n', '    op: "=>"\n', "alerts.yaml:24: rule 'errors': op: must be one of >, >=, <, <=, ==, !=, not '=>'"),
        ("    type: anomaly\n", "    type: anomalous\n",
         "alerts.yaml:29: rule 'burn': 'type' must be one of threshold, anomaly, trend, composite, custom, not 'anomalous'"),
        ("    type: email\n", "    type: smtp\n",
         "alerts.yaml:10: channel 'mail': 'type' must be one of slack, email, pagerduty, webhook, telegram, discord, "
         "alertmanager, log, not 'smtp'"),
    ],
)
def test_errors_name_the_line_of_the_offending_value(old, new, expected):
    assert old in FILE
    error = error_of(FILE.replace(old, new, 1))
    assert str(error) == expected
    assert error.file == "alerts.yaml" and f"alerts.yaml:{error.line}:" in expected


def test_merged_keys_are_checked_and_located_at_the_anchor():
    text = """\
defaults: &defaults {type: threshold, metric: error_rate, value: high}
rules:
  - <<: *defaults
    id: a
"""
    error = error_of(text.replace("defaults: &defaults", "x-defaults: &defaults", 1))
    assert str(error) == ("alerts.yaml:1: unknown key 'x-defaults' (allowed: channels, escalation_policies, rules, "
                          "settings)")
    text = "rules:\n  - &base {id: a, type: threshold, metric: m, value: 1}\n  - <<: *base\n    id: b\n    value: no\n"
    assert str(error_of(text)) == "alerts.yaml:5: rule 'b': value: must be a number, not False"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"rules:\n  - id: a\n    type: threshold\n    metric: error_rate\n    value: 0.1\n    windw: 5m\n",
         ":6: rule 'a': unknown key 'windw'"),
        (b"rules:\n  - {id: a, type: custom, function: 'tests.alerting.custom_rules:missing_function'}\n",
         ":2: rule 'a': function: cannot import"),
        (b"rules:\n  - {id: a, type: custom, function: 'tests.alerting.broken_rules:anything'}\n",
         ":2: rule 'a': function: cannot import 'tests.alerting.broken_rules:anything': RuntimeError: broken on purpose"),
        (b"\xff\xfe\x00r\x00u\x00l\x00e\x00s", ": cannot read: not UTF-8 text"),
        (b"rules:\n  - id: a\n    type: [threshold\n", ":4: invalid YAML"),
        (b"rules:\n  ? [a, b]\n  : 1\n", ": invalid YAML"),
        (b"!!python/object:os.system {}\n", ": invalid YAML"),
        (b"rules: {a: 1}\n", ":1: rules: must be a list, not a mapping"),
    ],
)
def test_check_rules_answers_one_line_and_exit_2(tmp_path, capsys, content, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    assert main(["alerts", "check-rules", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"agentotel: error: {bad}") and expected in line, line
    assert "Traceback" not in captured.err


def test_check_rules_on_a_directory_and_a_missing_file(tmp_path, capsys):
    assert main(["alerts", "check-rules", str(tmp_path)]) == 2
    assert main(["alerts", "check-rules", str(tmp_path / "missing.yaml")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"agentotel: error: {tmp_path}: cannot read: Is a directory",
                     f"agentotel: error: {tmp_path / 'missing.yaml'}: cannot read: No such file or directory"]


def test_load_rules_reports_what_cannot_be_read(tmp_path):
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "nothing-here.yaml")


@pytest.mark.slow
def test_check_rules_as_a_process_prints_only_its_one_line(tmp_path):
    """What a user sees: no log lines (it opens no database) and no traceback, just the located error."""
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: a\n    type: threshold\n    metric: error_rate\n    value: lots\n")
    done = subprocess.run([sys.executable, "-m", "agentotel", "alerts", "check-rules", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"agentotel: error: {bad}:5: rule 'a': value: must be a number, not 'lots'\n"
