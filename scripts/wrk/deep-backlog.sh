#!/usr/bin/env bash
# Receive+delete at depth: a steady-state cycle (wrk send-batch c=8 producing while wrk
# drain c=32 receives 10 and deletes them in a batch) on a shallow queue (~1,000 waiting),
# then on a queue filled to $TARGET (default 10,000,000) messages, then the shallow one
# again; then kill -9, time the restart to /health, and one more deep cycle.
#
#   cargo build --release -p redrive && TARGET=10000000 scripts/wrk/deep-backlog.sh
#
# IN_MEMORY=1 runs the server with --in-memory (~1.6 GB of RAM per million messages) and
# skips the restart. Needs wrk (apt install wrk), curl, python3 and ~1.5 KB of disk per
# message under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=target/release/redrive
W=scripts/wrk
PORT=${PORT:-9700}
OUT=${OUT:-/tmp/deepbench}
DATA=$OUT/data
mkdir -p "$OUT"
EP=http://127.0.0.1:$PORT
TARGET=${TARGET:-10000000}
rm -rf $DATA
STORE=(--data-dir "$DATA")
if [ "${IN_MEMORY:-0}" = 1 ]; then STORE=(--in-memory); fi
$BIN "${STORE[@]}" --bind 127.0.0.1:$PORT > $OUT/server.log 2>&1 &
SPID=$!
sleep 1
call() { curl -s -X POST $EP/ -H "X-Amz-Target: AmazonSQS.$1" -H "Content-Type: application/x-amz-json-1.0" -d "$2"; }
count() { call GetQueueAttributes "{\"QueueUrl\":\"$EP/000000000000/$1\",\"AttributeNames\":[\"ApproximateNumberOfMessages\",\"ApproximateNumberOfMessagesNotVisible\"]}" | python3 -c 'import sys,json; a=json.load(sys.stdin)["Attributes"]; print(int(a["ApproximateNumberOfMessages"])+int(a["ApproximateNumberOfMessagesNotVisible"]))'; }
sent_of() { grep -Eo '^ *[0-9]+ requests' "$1" | grep -Eo '[0-9]+'; }
cycle() { # queue seconds
  local q=$1 d=$2 before after sent
  before=$(count $q)
  QURL=$EP/000000000000/$q wrk -t1 -c8 -d${d}s -s $W/send-batch.lua $EP/ > $OUT/send-$q.txt &
  local sp=$!
  QURL=$EP/000000000000/$q wrk -t1 -c32 -d${d}s -s $W/drain.lua $EP/ > $OUT/drain-$q.txt
  wait $sp
  sleep 1
  after=$(count $q)
  sent=$(( $(sent_of $OUT/send-$q.txt) * 10 ))
  echo "$q: backlog before $before, after $after; sent $sent; removed $(( before + sent - after )) in ${d}s = $(( (before + sent - after) / d )) msgs/s; RSS $(ps -o rss= -p $SPID) KiB"
}
for q in shallow deep; do call CreateQueue "{\"QueueName\":\"$q\",\"Attributes\":{\"VisibilityTimeout\":\"600\"}}" > /dev/null; done
QURL=$EP/000000000000/shallow wrk -t1 -c8 -d1s -s $W/send-batch.lua $EP/ > /dev/null
echo "shallow prefilled: $(count shallow)"
for i in 1 2 3; do cycle shallow 15; done
# Fill deep to TARGET.
T0=$SECONDS
while [ "$(count deep)" -lt "$TARGET" ]; do
  QURL=$EP/000000000000/deep wrk -t2 -c64 -d${FILL_SECONDS:-30}s -s $W/send-batch.lua $EP/ > $OUT/fill.txt
  echo "deep: $(count deep) after $((SECONDS - T0)) s; RSS $(ps -o rss= -p $SPID) KiB; disk $(du -sb $DATA 2>/dev/null | cut -f1)"
done
for i in 1 2 3; do cycle deep 15; done
for i in 1 2 3; do cycle shallow 15; done
if [ "${IN_MEMORY:-0}" = 1 ]; then kill $SPID; exit 0; fi
kill -9 $SPID; wait $SPID 2>/dev/null || true
T1=$(date +%s.%N)
$BIN --data-dir $DATA --bind 127.0.0.1:$PORT > $OUT/server2.log 2>&1 &
SPID=$!
until curl -sf $EP/health > /dev/null; do sleep 0.05; done
echo "restart with $(count deep) + $(count shallow) stored: $(python3 -c "import time; print(round(time.time() - $T1, 2))") s to /health; RSS $(ps -o rss= -p $SPID) KiB"
cycle deep 15
kill $SPID
wait $SPID 2>/dev/null || true
rm -rf $DATA
