-- wrk script for R5: GET /healthz over keep-alive connections, the same
-- request against the query service and against usp-bench-beast.
--   wrk -t2 -c64 -d10s --latency -s bench/r5_healthz.lua http://127.0.0.1:PORT
-- No response() hook: wrk then skips parsing bodies.
-- done() prints one line "R5JSON {...}" that bench/run parses.

local req

function init(args)
  req = wrk.format("GET", "/healthz")
end

function request()
  return req
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
      'R5JSON {"requests":%d,"seconds":%.3f,"qps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
      '"p99_ms":%.3f,"max_ms":%.3f,"bytes":%d,"non2xx":%d,"socket_errors":%d}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, summary.bytes, e.status,
      e.connect + e.read + e.write + e.timeout))
end
