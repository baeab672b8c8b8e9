-- Drain the queue at $QURL: ReceiveMessage(10), then DeleteMessageBatch of the handles (wrk -s scripts/wrk/drain.lua).
-- Alternate ReceiveMessage(10) and DeleteMessageBatch of the handles received.
local url = os.getenv("QURL")
local handles = {}
request = function()
  if #handles >= 10 then
    local entries = {}
    for i = 1, 10 do
      entries[i] = '{"Id":"e' .. i .. '","ReceiptHandle":"' .. table.remove(handles) .. '"}'
    end
    return wrk.format("POST", "/", {["X-Amz-Target"] = "AmazonSQS.DeleteMessageBatch", ["Content-Type"] = "application/x-amz-json-1.0"},
      '{"QueueUrl":"' .. url .. '","Entries":[' .. table.concat(entries, ",") .. ']}')
  end
  return wrk.format("POST", "/", {["X-Amz-Target"] = "AmazonSQS.ReceiveMessage", ["Content-Type"] = "application/x-amz-json-1.0"},
    '{"QueueUrl":"' .. url .. '","MaxNumberOfMessages":10,"VisibilityTimeout":300}')
end
response = function(status, headers, body)
  for h in string.gmatch(body, '"ReceiptHandle":"([^"]+)"') do handles[#handles + 1] = h end
end
