"""The GenAI attribute vocabulary: the semantic-convention names agentotel emits and reads as canonical.

One home for the instrumentation (which emits them), the processors (which normalize every dialect onto
them) and evaluation (which writes ``gen_ai.evaluation.result`` events). Only current names (semconv
v1.37+ with the v1.40/v1.41 additions; see ``shared/semconv.md`` section 1); each dialect's own or
deprecated spellings stay with that dialect's normalizer. Plain constants: light enough for the
instrumentation (upstream's constants live in semantic-conventions-genai, not a dependency of ours).
"""

from __future__ import annotations

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"

# identity
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
DEPRECATED_PROVIDER = "gen_ai.system"  # its name before semconv v1.37, still sent by older producers
# request
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
# response
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
# usage
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
# agent / tool / context
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
AGENT_DESCRIPTION = "gen_ai.agent.description"
AGENT_VERSION = "gen_ai.agent.version"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_DESCRIPTION = "gen_ai.tool.description"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
CONVERSATION_ID = "gen_ai.conversation.id"
WORKFLOW_NAME = "gen_ai.workflow.name"
DATA_SOURCE_ID = "gen_ai.data_source.id"
# retrieval and embeddings spans (the LangChain and LlamaIndex instrumentation)
RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"  # opt-in content, clipped like the messages
RETRIEVAL_DOCUMENTS_COUNT = "gen_ai.retrieval.documents.count"
EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
# content (opt-in)
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
CONTENT_KEYS = (SYSTEM_INSTRUCTIONS, INPUT_MESSAGES, OUTPUT_MESSAGES, TOOL_DEFINITIONS)
# the opt-in content event (a log record; semconv.md 1.4)
EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"
# evaluation (semconv.md 1.2)
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
# metrics
TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

# operation names
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_RETRIEVAL = "retrieval"
OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_WORKFLOW = "invoke_workflow"

ERROR_OTHER = "_OTHER"

# histogram boundaries (explicit-bucket advisory)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
# agent-level metrics are ours (the gen_ai.* ones are unreleased)
METRIC_AGENT_EXECUTIONS = "agentotel.agent.executions"
METRIC_AGENT_DURATION = "agentotel.agent.duration"
METRIC_TOOL_CALLS = "agentotel.tool.calls"
OUTCOME = "agentotel.outcome"

# reasoning (thinking) blocks of a response: counted always, their text captured only with content capture
RESPONSE_REASONING_BLOCKS = "agentotel.response.reasoning_blocks"

# Provider rate-limit status, read from response headers (OpenAI ``x-ratelimit-*``, Anthropic
# ``anthropic-ratelimit-*``, ``retry-after``; Gemini's RetryInfo/QuotaFailure error details). Neither semconv
# nor a peer names these, so they are ours: ``agentotel.ratelimit.<kind>.<field>`` as span attributes and as
# gauges (attributes: provider, request model); ``remaining_ratio`` (remaining / limit) is a gauge only.
RATELIMIT_KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
RATELIMIT_LIMIT = "limit"  # int: the quota of the current window
RATELIMIT_REMAINING = "remaining"  # int: what is left of it
RATELIMIT_RESET = "reset"  # double, seconds until the window resets
RATELIMIT_REMAINING_RATIO = "remaining_ratio"  # gauge only: remaining / limit, 0..1
RATELIMIT_RETRY_AFTER = "agentotel.ratelimit.retry_after"  # double, seconds (retry-after / RetryInfo)
METRIC_RATELIMIT_TOKENS_REMAINING_RATIO = "agentotel.ratelimit.tokens.remaining_ratio"


def ratelimit_key(kind: str, field: str) -> str:
    """``agentotel.ratelimit.<kind>.<field>``: the span attribute and gauge name of one rate-limit value."""
    return f"agentotel.ratelimit.{kind}.{field}"

# Per-execution resources of an agent span (ours; neither semconv nor a peer names them). Set on
# ``invoke_agent`` spans at their end: process RSS (bytes) when the execution started and ended, the peak
# RSS seen in between (the kernel's high-water mark when it rose during the execution, else the highest
# periodic sample), and the CPU seconds the starting thread used (``time.thread_time()``; only when the
# span ended on the thread that started it). All process-wide except the CPU time: concurrent executions
# in one process share the memory figures.
EXEC_RSS_START = "agentotel.process.memory.rss_start"
EXEC_RSS_END = "agentotel.process.memory.rss_end"
EXEC_RSS_PEAK = "agentotel.process.memory.rss_peak"
EXEC_THREAD_CPU_TIME = "agentotel.thread.cpu_time"
EXEC_RESOURCE_KEYS = (EXEC_RSS_START, EXEC_RSS_END, EXEC_RSS_PEAK, EXEC_THREAD_CPU_TIME)
METRIC_AGENT_MEMORY_PEAK = "agentotel.agent.memory.peak"  # histogram, By, per agent name
METRIC_AGENT_CPU_TIME = "agentotel.agent.cpu_time"  # histogram, s, per agent name
