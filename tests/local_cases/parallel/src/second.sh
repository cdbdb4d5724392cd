# second.sh OUT: record start and end times (seconds, nanosecond digits) around a 1 s sleep.
set -eu
out=$(printenv "UNIP_PIPELINE_$1")
date +%s.%N > "$out/start"
sleep 1
date +%s.%N > "$out/end"
