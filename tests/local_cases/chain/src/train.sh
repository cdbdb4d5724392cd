# Reads the internal `clean` written by `prepare`; writes the internal `model`.
set -eu
printf '%s' "$UNIP_PIPELINE_CLEAN" > "$UNIP_PIPELINE_MODEL/read-from"
echo "rows=$(wc -l < "$UNIP_PIPELINE_CLEAN/table.csv")" > "$UNIP_PIPELINE_MODEL/model.txt"
echo "train: done"
