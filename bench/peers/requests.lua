-- wrk script for the side-by-side benchmark: each request is a random line of the file named
-- by BENCH_REQUESTS, "path<TAB>body<TAB>etag": a POST of body when it is not empty, else a
-- GET; an If-None-Match of etag when it is not empty. done() prints one JSON line.
local requests = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_REQUESTS"), "r"))
  for line in f:lines() do
    local path, body, etag = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    local headers = {}
    local method = "GET"
    if body ~= "" then
      method = "POST"
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    if etag ~= "" then
      headers["If-None-Match"] = etag
    end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
  f:close()
  math.randomseed(os.time() * 1000 + id)
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
