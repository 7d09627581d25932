-- wrk script for R4: "last 100 signals of a user in a time range" over
-- random users. Arguments (after `--`): USERS START_MS END_MS [SIGNAL].
--   wrk -t2 -c64 -d10s -s bench/r4_signals.lua http://127.0.0.1:PORT -- 1000 S E
-- Requests are prebuilt per thread, so the generator spends no time
-- formatting. No response() hook: wrk then skips parsing bodies.
-- done() prints one line "R4JSON {...}" that bench/run parses.

local requests = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  local users = tonumber(args[1] or "1000")
  local start_ms = args[2] or "0"
  local end_ms = args[3] or "9999999999999"
  local signal = args[4] or "searches"
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  for u = 0, users - 1 do
    requests[u + 1] = wrk.format("GET", "/v1/users/u" .. u .. "/signals?types=" .. signal ..
        "&start=" .. start_ms .. "&end=" .. end_ms .. "&limit=100")
  end
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
      'R4JSON {"requests":%d,"seconds":%.3f,"qps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
      '"p99_ms":%.3f,"max_ms":%.3f,"bytes":%d,"non2xx":%d,"socket_errors":%d}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, summary.bytes, e.status,
      e.connect + e.read + e.write + e.timeout))
end
