"""Realistic clean prompt/answer text (no personal data, no secrets) for the redaction false-positive rate."""

from __future__ import annotations

import json

CLEAN_TEXTS: list[str] = [
    "What was the revenue in Q3 2024 compared to Q3 2023?",
    "Revenue in Q3 2024 was $12.4M, up 8.5% from $11.43M a year earlier.",
    "Summarize the meeting notes from 2024-10-02 and list the action items.",
    "The deployment finished at 2024-10-02T10:30:00Z and took 14 minutes 32 seconds.",
    "Upgrade to version 2.14.1 before 31/12/2024; 2.13.x is end of life.",
    "Python 3.11.7 and Node.js 20.11.1 are installed; pip 24.0 too.",
    "Run `pip install 'langchain-core>=0.3.15,<0.4'` and restart the kernel.",
    "Trace 4bf92f3577b34da6a3ce929d0e0e4736, span 00f067aa0ba902b7, was sampled.",
    "Request id 123e4567-e89b-12d3-a456-426614174000 failed with HTTP 503.",
    "The order #48213 ships in 3-5 business days; total $1,299.99 incl. VAT.",
    "Convert 72 degrees Fahrenheit to Celsius: (72 - 32) * 5/9 = 22.2.",
    "The population of France is about 68,170,000 (2023 estimate).",
    "Coordinates of Paris: 48.8566, 2.3522. Berlin: 52.5200, 13.4050.",
    "ISBN 978-0-306-40615-7 is the classic example in the ISBN standard.",
    "Epoch 1700000000 corresponds to 2023-11-14 22:13:20 UTC.",
    "Span start 1732628180123456789 ns, end 1732628181123456789 ns.",
    "The meeting is at 10:30-11:45 in room 4.12, building B2.",
    "Chapter 3, section 2.4.1, pages 112-118.",
    "Set max_tokens to 1024, temperature 0.7 and top_p 0.95.",
    "Usage: prompt_tokens 1957, completion_tokens 80, total_tokens 2037.",
    "The token limit is 128000 tokens; the key insight is chunking.",
    "Password policies should require 12+ characters and MFA.",
    "Use the API key from your environment, never hard-code secrets.",
    "Our SLA is 99.95% uptime, i.e. at most 21.9 minutes of downtime per month.",
    "Matrix [[1, 2], [3, 4]] has determinant -2.",
    "The answer is 42. The next prime after 7919 is 7927.",
    'Call the function with arguments {"x": 42, "y": 42} and return the sum 84.',
    "Latency p50 120 ms, p95 340 ms, p99 1.2 s over 1,000,000 requests.",
    "The invoice INV-2024-00123 is due on 15 January 2025.",
    "Build 20241002.3 passed 1532 of 1540 tests (8 skipped).",
    "SKU AB-1234-XY is out of stock in warehouses 3 and 7.",
    "Temperature today: 21°C, humidity 65%, wind 12 km/h from the NW.",
    "The SHA-256 of the file is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
    "Commit c9d0c60 fixed issue #1234 reported on 2025-05-19.",
    "Docker image python:3.12-slim-bookworm, digest sha256:1a2b3c4d5e6f.",
    "Grid 3x3 with values 1 2 3 4 5 6 7 8 9 sums to 45.",
    "Between 1990 and 2020 the value grew from 1.5 to 4.75 billion.",
    "Port 8080 is taken, use 8081; the metrics endpoint listens on 9464.",
    "Kubernetes pod web-7d9f8c6b5-x2x9z restarted 3 times.",
    "In 2019, 2020 and 2021 the totals were 153, 171 and 190.",
    "The UUID v7 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b sorts by time.",
    "Answer: 3.14159265358979 is pi to 14 decimals.",
    "Fibonacci: 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144.",
    "The model gpt-4o-2024-08-06 costs $2.50 per 1M input tokens.",
    "claude-3-5-sonnet-20241022 returned stop_reason end_turn after 187 tokens.",
    "Schedule: Mon-Fri 09:00-17:30, Sat 10:00-14:00.",
    "RFC 3339 timestamps look like 2025-01-15T08:45:12.123+01:00.",
    "Amount due: EUR 4 250,00; reference 2024/11/0042.",
    "Large number 12345678901234567890 has 20 digits.",
    "A 16-digit number like 1234567812345678 is not necessarily a card.",
    "The hex color #1a2b3c and rgb(26, 43, 60) are the same.",
    "Version string 1.0.0-rc.1+build.5 follows semver.",
    "Tracking number 1Z999AA10123456784 was delivered.",
    "Flight LH 454 departs 13:55 from gate B44.",
    "He scored 98/100 on the test and 87.5% overall.",
    "The ratio 16:9 and 4:3 are common aspect ratios.",
    "Time 12:30:45.123 and duration 00:01:30.",
    "Use the range 10-20 and step 2.5.",
    "Bug #4521: NullPointerException at line 342 of Parser.java.",
    "Error code 0x80070005 means access denied.",
    "MAC-like label 00-1A-2B-3C-4D-5E is printed on the box.",
    "Patch notes 7.35d: hero changes, item cost 2050 -> 2100.",
    "The 2024-25 season starts on 2024-08-16.",
    "Account tier: Pro (50 seats), renewed 2025-03-01 for 12 months.",
    "Table 2 shows n = 1024 samples with mean 3.42 and sd 0.88.",
    "The Boeing 737-800 seats 162-189 passengers.",
    "Route 66 runs 2448 miles from Chicago to Santa Monica.",
    "Use the 2.4 GHz band, channel 6, 20 MHz width.",
    "Call stack depth 128, heap 512 MiB, GC pause 12 ms.",
    "Dates 01/02/2024, 2024.02.01 and 1 Feb 2024 are the same day in different formats.",
    "Stock: AAPL 189.84 (+1.2%), MSFT 415.50 (-0.3%).",
    "Order of operations: 2 + 3 * 4 = 14, (2 + 3) * 4 = 20.",
    "The list has 1,024 items; page 3 of 52.",
    "Zip code 94105 and postcode SW1A are in the address field (redacted upstream).",
    "Vector [0.1, 0.2, 0.3, 0.4] has norm 0.5477.",
    "Lat/long 40.7128 N, 74.0060 W.",
    "The span duration_ms is 1500.25 and status OK.",
    "CPU 2 cores at 2.3 GHz, 8 GB RAM, 100 GB disk.",
    "Model context 200000 tokens, output limit 8192.",
    "Use the task-management-system-design-document template for the desk-organizer-with-drawers plan.",
    "The refresh token: expired, so the password: field must be re-entered; key: value pairs follow.",
    "Slack channel #risk-assessment-q3-2024 and the ghost_writer_notes_for_chapter_three file.",
    "Set api_key to null and token to None in the sample config.",
]

_JSON_MESSAGES = [
    [
        {
            "role": "system",
            "parts": [{"type": "text", "content": "You are a helpful assistant for ACME Corp."}],
        },
        {"role": "user", "parts": [{"type": "text", "content": text}]},
    ]
    for text in CLEAN_TEXTS[:20]
]
CLEAN_TEXTS += [json.dumps(messages) for messages in _JSON_MESSAGES]
CLEAN_TEXTS += [
    json.dumps(
        {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512, "stream": False, "seed": 1234}
    ),
    json.dumps({"usage": {"prompt_tokens": 1957, "completion_tokens": 80, "total_tokens": 2037}}),
    json.dumps(
        {"id": "chatcmpl-8adq9JloOzNZ9TyuzrKyLpGXexh6p", "created": 1703743645, "model": "gpt-3.5-turbo-0613"}
    ),
    json.dumps(
        {"tool_call_id": "call_5ERYvu4iTGSvDlcDQjDP3g3J", "name": "getWeather", "arguments": '{"days": 7}'}
    ),
    json.dumps({"temperature": 52, "precipitation": "rainy", "updated": "2024-01-16T17:49:03Z"}),
    json.dumps({"documents": [{"id": "doc-1", "score": 0.9, "page_content": "VM alpha memory 95%"}]}),
]
