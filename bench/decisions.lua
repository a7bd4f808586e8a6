-- wrk script: each wrk thread owns one connection and one job, and decides its epochs in
-- order (run wrk with as many threads as connections). The metrics follow
-- bench/workload.py's curve, so every request is a new epoch with a durable write.
-- Arguments after `--`: the job id prefix. Jobs <prefix>-0 .. <prefix>-(threads-1) must exist.

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  job_path = "/v1/jobs/" .. args[1] .. "-" .. thread_index .. "/epochs/"
  epoch = 0
end

local function metrics_body(n)
  if n == 0 then
    return '{"metrics": {}}'
  end
  local val_loss = 0.1 + 0.6 * math.exp(-n / 15) + 0.01 * math.sin(n * 1.7)
  return string.format(
    '{"metrics": {"loss": %.6f, "accuracy": %.6f, "val_loss": %.6f, "val_accuracy": %.6f}}',
    val_loss * 0.9, 1 - val_loss / 2, val_loss, 1 - val_loss / 1.8)
end

function request()
  local body = metrics_body(epoch)
  local path = job_path .. epoch
  epoch = epoch + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99)))
end
