# Copy every value file into the report folder; record whether the optional `note` is set.
set -eu
out=$UNIP_PIPELINE_REPORT
cp "$UNIP_PIPELINE_RATE" "$out/rate"
cp "$UNIP_PIPELINE_COUNT" "$out/count"
cp "$UNIP_PIPELINE_CONFIG" "$out/config"
cp "$UNIP_PIPELINE_LABEL" "$out/label"
if [ "${UNIP_PIPELINE_NOTE+set}" = set ]; then
  cp "$UNIP_PIPELINE_NOTE" "$out/note"
else
  : > "$out/note-unset"
fi
echo "values: done"
