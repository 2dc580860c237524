-- wrk script for laer's tracking API: every request is a /v1/batch of track calls with
-- fresh messageIds from 50 users per thread, each in one of 40 accounts, using 12 features.
--   wrk -t2 -c16 -d30s --latency -s scripts/ingest-load.lua http://127.0.0.1:8080 -- WRITE_KEY [BATCH]
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local key = args[1] or error("usage: ... -- WRITE_KEY [BATCH]")
  batch = tonumber(args[2] or "100")
  wrk.method = "POST"
  wrk.path = "/v1/batch"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic " .. base64(key .. ":")
  prefix = string.format("w%d-%d-", id, math.random(1, 1e9))
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function base64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

function request()
  counter = counter + 1
  local calls = {}
  for i = 1, batch do
    local user = (counter + i) % 50
    calls[i] = string.format(
      '{"type":"track","userId":"user-%d-%d","event":"Feature %d","properties":{"value":%d},' ..
      '"messageId":"%s%d-%d","context":{"groupId":"account-%d"}}',
      id, user, i % 12, i, prefix, counter, i, (id * 50 + user) % 40)
  end
  return wrk.format(nil, nil, nil, '{"batch":[' .. table.concat(calls, ",") .. ']}')
end

function done(summary, latency, requests)
  local batch = tonumber(threads[1]:get("batch"))
  io.write(string.format("events/s: %.0f (%d batches of %d, %d errors)\n",
    summary.requests / (summary.duration / 1e6) * batch, summary.requests, batch,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
