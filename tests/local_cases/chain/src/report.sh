# Reads both internal vars; writes the pipeline output `result`.
set -eu
cp "$UNIP_PIPELINE_MODEL/model.txt" "$UNIP_PIPELINE_RESULT/model.txt"
cp "$UNIP_PIPELINE_CLEAN/listing" "$UNIP_PIPELINE_RESULT/listing"
cp "$UNIP_PIPELINE_CLEAN/notes" "$UNIP_PIPELINE_RESULT/notes"
cp "$UNIP_PIPELINE_MODEL/read-from" "$UNIP_PIPELINE_RESULT/train-read-from"
cp "$UNIP_PIPELINE_CLEAN/written-at" "$UNIP_PIPELINE_RESULT/prepare-wrote-at"
echo "report: done"
