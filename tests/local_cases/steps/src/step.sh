# step.sh NAME IN OUT: copy the marker chain from var IN (may be '') to var OUT, then
# behave as UNIP_TEST_MODE_<NAME> says: ok, exit3, term (SIGTERM to the stage's whole
# process group, as a kill from outside would) or sleep (records its pid and a child's).
set -eu
name=$1
out=$(printenv "UNIP_PIPELINE_$3")
if [ -n "$2" ]; then
  cp "$(printenv "UNIP_PIPELINE_$2")/chain" "$out/chain"
fi
echo "$name" >> "$out/chain"
mode=$(printenv "UNIP_TEST_MODE_$name" || echo ok)
echo "$name: mode $mode"
case $mode in
  ok) ;;
  exit3) echo "$name: failing on purpose" >&2; exit 3 ;;
  term) kill -TERM 0 ;;
  sleep)
    sleep 60 &
    echo "$$ $!" > "$UNIP_TEST_PIDS.tmp" && mv "$UNIP_TEST_PIDS.tmp" "$UNIP_TEST_PIDS"
    wait ;;
esac
