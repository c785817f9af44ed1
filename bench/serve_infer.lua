-- wrk script: binary-extension inference POSTs (closed loop, for saturation throughput).
--   wrk -t2 -c8 -d20s -s bench/serve_infer.lua http://127.0.0.1:PORT/v2/models/M/infer -- BODY_FILE HEADER_LENGTH
local body, header_length
function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  header_length = args[2]
end
function request()
  return wrk.format("POST", nil, {["Content-Type"] = "application/octet-stream",
                                  ["Inference-Header-Content-Length"] = header_length}, body)
end
function done(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
