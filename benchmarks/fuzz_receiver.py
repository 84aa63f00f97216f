"""RELIABILITY.md B12: 10^5 mutated OTLP requests through decode → validate → normalize → write.

Counts outcomes and unhandled exceptions (must be 0) and reports peak RSS. Bounded in count and time.

    .venv/bin/python benchmarks/fuzz_receiver.py [--requests 100000] [--seconds 600]
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentotel.core.settings import ReceiverSettings  # noqa: E402
from agentotel.otlp_receiver.errors import InvalidArgument  # noqa: E402
from agentotel.otlp_receiver.ingest import build_request_writer, ingest_traces  # noqa: E402
from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from benchmarks.ingest import build_requests  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    rng = random.Random(1234)
    seeds = build_requests(64, 16, rng)
    engine = create_db_engine(f"sqlite:///{tempfile.mkdtemp(prefix='agentotel-fuzz-')}/fuzz.db")
    upgrade(engine)
    writer = build_request_writer(engine, ReceiverSettings())
    outcomes: collections.Counter[str] = collections.Counter()
    crashes: list[str] = []
    deadline = time.monotonic() + args.seconds
    done = 0
    for done in range(1, args.requests + 1):  # noqa: B007
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(body))
            if op < 0.6:
                body[pos] = rng.randrange(256)
            elif op < 0.8:
                del body[pos : pos + rng.randint(1, 16)]
            else:
                body[pos:pos] = rng.randbytes(rng.randint(1, 16))
        try:
            ingest_traces(writer, bytes(body))
            outcomes["accepted"] += 1
        except InvalidArgument:
            outcomes["invalid_argument"] += 1
        except Exception:  # what the fuzz is looking for
            outcomes["UNHANDLED"] += 1
            if len(crashes) < 5:
                crashes.append(traceback.format_exc())
        if time.monotonic() > deadline:
            break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fuzz: {done} mutated requests, outcomes {dict(outcomes)}, peak RSS {rss:.0f} MiB")
    for crash in crashes:
        print(crash)
    return 1 if outcomes["UNHANDLED"] else 0


if __name__ == "__main__":
    sys.exit(main())
