-- SendMessageBatch of 10 × 1 KiB bodies to the queue at $QURL (wrk -s scripts/wrk/send-batch.lua).
local url = os.getenv("QURL")
wrk.method = "POST"
wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessageBatch"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
local body = string.rep("x", 1024)
local entries = {}
for i = 1, 10 do entries[i] = '{"Id":"e' .. i .. '","MessageBody":"' .. body .. '"}' end
wrk.body = '{"QueueUrl":"' .. url .. '","Entries":[' .. table.concat(entries, ",") .. ']}'
