#!/usr/bin/env python3
"""Reads the last `cargo bench -p haiway-benches --bench recorders` run (criterion's
estimates under TARGET/criterion/cache_hit_recorder) and prints what each recorder
adds to a cache hit, with issue 15's time targets: a hit recorded by TracingRecorder
(DEBUG on) costs at most 2x one bare `tracing::debug!` over an unrecorded hit, one
recorded by OpenTelemetryRecorder at most 1.25x one bare `Counter::add`.

Usage: recorder_times.py [TARGET]   (default: $CARGO_TARGET_DIR or ./target)

Times are medians; on a busy machine, run the bench again before trusting a ratio.
Not run by .ci/run: the instruction counts (recorder_instructions) are the referee.
"""

import json
import os
import sys

LINES = [
    "no recorder",
    "NoopRecorder",
    "no-op closure recorder",
    "TracingRecorder, DEBUG filtered out",
    "TracingRecorder, DEBUG enabled",
    "reference: tracing::debug! alone",
    "OpenTelemetryRecorder (SDK meter)",
    "reference: Counter::add alone",
]


def median(target, line):
    folder = line.replace(":", "_")  # as criterion names its folders
    path = os.path.join(target, "criterion", "cache_hit_recorder", folder, "new", "estimates.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["median"]["point_estimate"]


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CARGO_TARGET_DIR", "target")
    ns = {line: median(target, line) for line in LINES}
    for line in LINES:
        print(f"{line:40} {ns[line]:8.2f} ns")
    none = ns["no recorder"]
    tracing = (ns["TracingRecorder, DEBUG enabled"] - none) / ns["reference: tracing::debug! alone"]
    otel = (ns["OpenTelemetryRecorder (SDK meter)"] - none) / ns["reference: Counter::add alone"]
    print(f"TracingRecorder (DEBUG on) adds {tracing:.2f}x one tracing::debug! (target: at most 2x)")
    print(f"OpenTelemetryRecorder adds {otel:.2f}x one Counter::add (target: at most 1.25x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
