-- One wrk script for every HTTP scenario; arguments after `--` are key=value pairs:
--   method=GET|POST   path=/api/v1/tasks/{id}   body=FILE (sent as JSON)
--   ids=FILE (one id per line, substituted for {id})   threads=N (same as wrk -t)
--   mode=cycle (reuse ids) | once (each id once, then the thread stops; with threads=1
--   the run ends there instead of at -d)
--   capture=PREFIX (write the taskId of each response to PREFIX-<thread>)
-- done() prints one line `BENCH_JSON {...}`: counted requests, non-2xx, the time from the
-- first request to the last response (FFI clock), socket errors and latency percentiles.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_ts;
int clock_gettime(int clk, bench_ts *ts);
int getpid(void);
long syscall(long number, long a, long b, long c);
]]
-- tgkill(pid, pid, SIGINT): the signal must reach wrk's main thread, which sleeps for -d
local TGKILL = ({x64 = 234, arm64 = 131})[jit.arch]
local function end_run()
  if TGKILL then
    local pid = ffi.C.getpid()
    ffi.C.syscall(TGKILL, pid, pid, 2)
  end
end
local ts = ffi.new("bench_ts")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local function parse(args)
  local opts = {}
  for _, arg in ipairs(args) do
    local key, value = string.match(arg, "^([%w_]+)=(.*)$")
    if key then opts[key] = value end
  end
  return opts
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function read_ids(path, nthreads)
  local mine, index = {}, 0
  for line in io.lines(path) do
    if #line > 0 then
      if opts.mode ~= "once" or index % nthreads == tid - 1 then table.insert(mine, line) end
      index = index + 1
    end
  end
  return mine
end

function init(args)
  opts = parse(args)
  method = opts.method or "GET"
  path = opts.path or "/"
  headers = {}
  body = nil
  if opts.body then
    body = read_file(opts.body)
    headers["Content-Type"] = "application/json"
  end
  ids = opts.ids and read_ids(opts.ids, tonumber(opts.threads or "1")) or nil
  next_id = 1
  if ids and opts.mode ~= "once" and #ids > 0 then next_id = (tid * 7919) % #ids + 1 end
  counted, non2xx, first_us, last_us, fillers = 0, 0, 0, 0, 0
  -- wrk calls request() once on the first thread to inspect it, and never sends that one
  verifying = tid == 1
  if opts.capture then capture = assert(io.open(opts.capture .. "-" .. tid, "w")) end
end

local function exhausted()
  return ids ~= nil and opts.mode == "once" and next_id > #ids
end

function delay()
  if exhausted() then return 60000 end  -- park the connection; the thread stops soon
  return 0
end

function request()
  if verifying then
    verifying = false
    return wrk.format(method, string.gsub(path, "{id}", "verify"), headers, body)
  end
  if first_us == 0 then first_us = now_us() end
  local target = path
  if ids and #ids > 0 then
    if exhausted() then
      -- a connection whose delay was decided before the last id went: a cheap filler
      fillers = fillers + 1
      return wrk.format("GET", "/health/live")
    end
    target = string.gsub(path, "{id}", ids[next_id])
    next_id = next_id + 1
    if opts.mode ~= "once" and next_id > #ids then next_id = 1 end
  end
  return wrk.format(method, target, headers, body)
end

function response(status, hdrs, resp_body)
  counted = counted + 1
  last_us = now_us()
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if capture then
    local id = string.match(resp_body, '"taskId":"([0-9a-f%-]+)"')
    if id then capture:write(id, "\n") end
    if counted % 500 == 0 then capture:flush() end
  end
  if ids and opts.mode == "once" and counted >= #ids + fillers then
    if capture then capture:flush() end
    wrk.thread:stop()
    -- wrk's main thread sleeps for the whole -d; SIGINT ends that sleep (one thread only)
    if opts.threads == "1" then end_run() end
  end
end

function done(summary, latency, requests)
  local total, bad, first, last = 0, 0, nil, 0
  for _, t in ipairs(threads) do
    total = total + t:get("counted") - t:get("fillers")
    bad = bad + t:get("non2xx")
    local f, l = t:get("first_us"), t:get("last_us")
    if f > 0 and (first == nil or f < first) then first = f end
    if l > last then last = l end
  end
  local e = summary.errors
  local parts = {
    string.format('"requests": %d', total),
    string.format('"non2xx": %d', bad),
    string.format('"elapsed_us": %.0f', first and (last - first) or 0),
    string.format('"socket_errors": %d', e.connect + e.read + e.write + e.timeout),
    string.format('"timeouts": %d', e.timeout),
    string.format('"mean_us": %.1f', latency.mean),
    string.format('"max_us": %d', latency.max),
  }
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    table.insert(parts, string.format('"p%s_us": %d', tostring(p), latency:percentile(p)))
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
