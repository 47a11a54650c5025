-- wrk script of the bench. Each line of the file given as the first script argument is one
-- session (tab-separated "name: value" headers); the second argument is wrk's thread count.
--
-- Sessions are kept like a browser keeps them: each belongs to exactly one thread, each request
-- carries ?s=<session index> (the upstream echoes its path in the JSON body), and a Set-Cookie in
-- a response updates that session's cookies and rebuilds its request. Without this, a BFF that
-- re-issues its cookie now and then (the cookie store slides its idle timeout at most once a
-- minute) would re-issue on every request once the replayed cookie is old enough.
-- Requests are pre-built; Lua does work per response only when a Set-Cookie comes back.
local mine = {}
local byIndex = {}
local idx = 1
local threads = {}
reissued = 0
unmatched = 0

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

local function cookieHeader(s)
  local parts = {}
  for _, name in ipairs(s.order) do
    local v = s.jar[name]
    if v ~= nil then parts[#parts + 1] = name .. "=" .. v end
  end
  return table.concat(parts, "; ")
end

local function build(s)
  local headers = {}
  for k, v in pairs(s.headers) do headers[k] = v end
  if #s.order > 0 then headers["cookie"] = cookieHeader(s) end
  s.req = wrk.format(nil, s.path, headers)
end

function init(args)
  local nthreads = tonumber(args[2] or "1") or 1
  local all = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      local headers = {}
      for pair in string.gmatch(line, "[^\t]+") do
        local name, value = string.match(pair, "^([^:]+):%s*(.*)$")
        if name then headers[string.lower(name)] = value end
      end
      all[#all + 1] = headers
    end
  end
  if #all == 0 then error("no requests in " .. args[1]) end
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  for i, headers in ipairs(all) do
    if #all < nthreads or ((i - 1) % nthreads) == (tid or 0) then
      local s = { index = i - 1, headers = headers, jar = {}, order = {}, path = wrk.path .. sep .. "s=" .. (i - 1) }
      for pair in string.gmatch(headers["cookie"] or "", "[^;]+") do
        local name, value = string.match(pair, "^%s*([^=]+)=(.*)$")
        if name then
          s.jar[name] = value
          s.order[#s.order + 1] = name
        end
      end
      headers["cookie"] = nil
      build(s)
      mine[#mine + 1] = s
      byIndex[s.index] = s
    end
  end
end

function request()
  local s = mine[idx]
  idx = idx + 1
  if idx > #mine then idx = 1 end
  return s.req
end

function response(status, headers, body)
  local set = headers["Set-Cookie"] or headers["set-cookie"]
  if not set then return end
  local i = tonumber(string.match(body or "", '"path":"[^"]*[?&]s=(%d+)') or "")
  local s = i and byIndex[i]
  if not s then
    unmatched = unmatched + 1
    return
  end
  local name, value = string.match(set, "^%s*([^=;]+)=([^;]*)")
  if not name then return end
  local maxAge = tonumber(string.match(string.lower(set), "max%-age=(%-?%d+)") or "")
  if value == "" or (maxAge and maxAge <= 0) then
    s.jar[name] = nil
  else
    if s.jar[name] == nil then s.order[#s.order + 1] = name end
    s.jar[name] = value
  end
  reissued = reissued + 1
  build(s)
end

function done(summary, latency, requests)
  local r, u = 0, 0
  for _, t in ipairs(threads) do
    r = r + (tonumber(t:get("reissued")) or 0)
    u = u + (tonumber(t:get("unmatched")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
      .. '"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f,"mean":%.1f,"reissued":%d,"unmatched":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, r, u))
end
