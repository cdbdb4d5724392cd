# table: a file; folder: a folder. Both are copied into the internal var `clean`.
set -eu
[ -f "$UNIP_PIPELINE_TABLE" ] || { echo "prepare: table is not a file" >&2; exit 5; }
[ -d "$UNIP_PIPELINE_FOLDER" ] || { echo "prepare: folder is not a folder" >&2; exit 6; }
cp "$UNIP_PIPELINE_TABLE" "$UNIP_PIPELINE_CLEAN/table.csv"
(cd "$UNIP_PIPELINE_FOLDER" && find . -type f | sort) > "$UNIP_PIPELINE_CLEAN/listing"
cat "$UNIP_PIPELINE_FOLDER"/*.txt > "$UNIP_PIPELINE_CLEAN/notes"
printf '%s' "$UNIP_PIPELINE_CLEAN" > "$UNIP_PIPELINE_CLEAN/written-at"
echo "prepare: $(wc -l < "$UNIP_PIPELINE_TABLE") lines"
