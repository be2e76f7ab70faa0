-- wrk script: every wrk thread is its own sender (service svc-<thread>, pod-<thread>) posting the
-- shared OTLP payload with a time_unix_nano that grows 1 ms per request, so every data point is
-- a new sample to store (the plain otlp_post.lua re-sends identical points).
-- The payload must be built with a timestamp whose low 40 bits are zero (make_payload.py).
local n = 0
function setup(thread)
  thread:set("tid", n)
  n = n + 1
end

local counter = 0
local pieces

function init(args)
  local f = assert(io.open(os.getenv("OTLP_BODY"), "rb"))
  local body = f:read("*all")
  f:close()
  local t = tostring(tonumber(tid) or 0)
  body = body:gsub("svc%-0", "svc-" .. t):gsub("pod%-0", "pod-" .. t)
  -- time_unix_nano is field 3 (fixed64, tag 0x19); its low 5 bytes are zero in the payload.
  local marker = "\25\0\0\0\0\0"
  pieces = {}
  local start = 1
  while true do
    local i = body:find(marker, start, true)
    if not i then break end
    pieces[#pieces + 1] = body:sub(start, i)
    start = i + 6
  end
  pieces[#pieces + 1] = body:sub(start)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-protobuf"
end

function request()
  counter = counter + 1
  local ns = counter * 1000000
  local b = {}
  for i = 1, 5 do
    b[i] = string.char(ns % 256)
    ns = math.floor(ns / 256)
  end
  return wrk.format(nil, nil, nil, table.concat(pieces, table.concat(b)))
end

local non2xx = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
