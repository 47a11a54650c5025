-- wrk script of the bench: cycles through pre-built requests (one per line of the file given as
-- the first script argument; a line is tab-separated "name: value" headers), so that requests
-- spread over many sessions without building a request per call, and prints the results as JSON.
local reqs = {}
local idx = 1
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local headers = {}
      for pair in string.gmatch(line, "[^\t]+") do
        local name, value = string.match(pair, "^([^:]+):%s*(.*)$")
        if name then headers[name] = value end
      end
      reqs[#reqs + 1] = wrk.format(nil, nil, headers)
    end
  end
  if #reqs == 0 then error("no requests in " .. args[1]) end
  -- Threads start at different places of the list.
  idx = (((tid or 0) * math.floor(#reqs / 2 + 1)) % #reqs) + 1
end

function request()
  local r = reqs[idx]
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
      .. '"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
