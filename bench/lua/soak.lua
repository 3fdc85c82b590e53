-- The soak run's load: every connection is a client that, after a random pause, creates a
-- task (most requests), reads one it created, lists the first page or cancels one it
-- created. Arguments after `--` are key=value pairs:
--   body=FILE (the create body, JSON)   rate=N (requests/s over all connections; 0: no pause)
--   connections=N (same as wrk -c)   mix=create:70,get:15,list:5,cancel:10 (percentages)
--   capture=PREFIX (write the taskId of each 201 to PREFIX-<thread>)
--   errors=PREFIX (write the first answers that are not 200/201/204/409 to PREFIX-<thread>)
-- done() prints one line `SOAK_JSON {...}`: requests, answers by status, socket errors and
-- latency percentiles.

local API = "/api/v1/tasks"
local RECENT = 1000  -- how many of its own recent ids a thread picks from
local MAX_ERRORS = 200
-- pauses end before `taskcore serve` closes an idle keep-alive connection (5 s): wrk would
-- count that close as a read error, and a socket error must mean a real failure
local MAX_PAUSE_MS = 4000

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

local function parse_mix(text)
  local mix, total = {}, 0
  for op, weight in string.gmatch(text, "(%a+):(%d+)") do
    total = total + tonumber(weight)
    table.insert(mix, {op = op, upto = total})
  end
  return mix, total
end

function init(args)
  opts = parse(args)
  body = read_file(opts.body)
  json_headers = {["Content-Type"] = "application/json"}
  mix, mix_total = parse_mix(opts.mix or "create:70,get:15,list:5,cancel:10")
  local rate = tonumber(opts.rate or "0")
  -- each connection pauses for an exponential time of this mean: together they send `rate`
  mean_pause_ms = rate > 0 and 1000 * tonumber(opts.connections or "100") / rate or 0
  recent, recent_count = {}, 0
  counts, errors_written = {}, 0
  math.randomseed(os.time() * 1000 + tid)
  if opts.capture then capture = assert(io.open(opts.capture .. "-" .. tid, "w")) end
  if opts.errors then errors = assert(io.open(opts.errors .. "-" .. tid, "w")) end
end

function delay()
  if mean_pause_ms == 0 then return 0 end
  return math.min(math.floor(-math.log(1 - math.random()) * mean_pause_ms), MAX_PAUSE_MS)
end

local function pick_op()
  local draw = math.random(mix_total)
  for _, entry in ipairs(mix) do
    if draw <= entry.upto then return entry.op end
  end
  return "create"
end

local function recent_id()
  local n = math.min(recent_count, RECENT)
  return recent[(recent_count - math.random(n)) % RECENT + 1]
end

function request()
  local op = pick_op()
  if recent_count == 0 and (op == "get" or op == "cancel") then op = "create" end
  if op == "get" then return wrk.format("GET", API .. "/" .. recent_id()) end
  if op == "list" then return wrk.format("GET", API .. "?page=1&size=20") end
  if op == "cancel" then return wrk.format("DELETE", API .. "/" .. recent_id()) end
  return wrk.format("POST", API, json_headers, body)
end

function response(status, hdrs, resp_body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  if status == 201 then
    local id = string.match(resp_body, '"taskId":%s*"([0-9a-f%-]+)"')
    if id then
      recent[recent_count % RECENT + 1] = id
      recent_count = recent_count + 1
      if capture then
        -- flushed at once: wrk never closes the file, and a lost id would look like a lost task
        capture:write(id, "\n")
        capture:flush()
      end
    end
  elseif status ~= 200 and status ~= 204 and status ~= 409 then
    if errors and errors_written < MAX_ERRORS then
      errors_written = errors_written + 1
      errors:write(key, " ", string.gsub(resp_body or "", "\n", " "), "\n")
      errors:flush()
    end
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for key, n in pairs(t:get("counts")) do totals[key] = (totals[key] or 0) + n end
  end
  local statuses = {}
  for key, n in pairs(totals) do table.insert(statuses, string.format('"%s": %d', key, n)) end
  local e = summary.errors
  local parts = {
    string.format('"requests": %d', summary.requests),
    string.format('"duration_us": %d', summary.duration),
    "\"statuses\": {" .. table.concat(statuses, ", ") .. "}",
    string.format('"connect_errors": %d', e.connect),
    string.format('"read_errors": %d', e.read),
    string.format('"write_errors": %d', e.write),
    string.format('"timeouts": %d', e.timeout),
    string.format('"mean_us": %.1f', latency.mean),
    string.format('"max_us": %d', latency.max),
  }
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    table.insert(parts, string.format('"p%s_us": %d', tostring(p), latency:percentile(p)))
  end
  io.write("SOAK_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
