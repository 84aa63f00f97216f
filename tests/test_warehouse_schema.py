from sqlalchemy import inspect

from agentotel.warehouse.migrate import current_revisions, upgrade


def test_migrations_create_contract_tables(engine):
    names = set(inspect(engine).get_table_names())
    assert {"agents", "agent_executions", "metrics", "evaluation_runs", "alerts", "spans", "llm_calls", "tool_calls"} <= names
    span_cols = {c["name"] for c in inspect(engine).get_columns("spans")}
    assert {"trace_id", "span_id", "parent_span_id", "span_type", "attributes", "execution_id"} <= span_cols
    pk = inspect(engine).get_pk_constraint("spans")["constrained_columns"]
    assert pk == ["trace_id", "span_id"]


def test_upgrade_is_repeatable(engine):
    before = current_revisions(engine)
    upgrade(engine)
    assert current_revisions(engine) == before and before
