// pm2 apps for the vidaio daemons (docs/operations.md). Start from the project root:
//
//   scripts/pm2.sh start ecosystem.config.js              # both apps
//   scripts/pm2.sh start ecosystem.config.js --only vidaio-miner
//   scripts/pm2.sh logs vidaio-miner     scripts/pm2.sh stop all     scripts/pm2.sh kill
//
// Settings come from an env file read by the daemon itself (pydantic-settings), never from this
// file: VIDAIO_MINER_ENV_FILE / VIDAIO_VALIDATOR_ENV_FILE, else VIDAIO_ENV_FILE, else ./.env
// (see .env.example and docs/operations.md). pm2 stops an app with SIGINT and waits
// kill_timeout before SIGKILL: the daemons finish or abandon in-flight work cleanly on SIGINT
// (miner.shutdown_grace_s, validator.shutdown_grace_s), so keep kill_timeout above those.
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = __dirname;
const PYTHON = process.env.VIDAIO_PYTHON || path.join(ROOT, ".venv", "bin", "python");
const LOG_DIR = process.env.VIDAIO_PM2_LOG_DIR || path.join(ROOT, "logs");

// The env file one daemon reads: its own variable, else the shared one, else ./.env if present.
function envFileArgs(specific) {
  const file = process.env[specific] || process.env.VIDAIO_ENV_FILE || path.join(ROOT, ".env");
  if (process.env[specific] || process.env.VIDAIO_ENV_FILE || fs.existsSync(file)) {
    return ["--env-file", path.resolve(ROOT, file)];
  }
  return []; // no env file: environment variables and defaults only
}

function app(name, script, envVar) {
  return {
    name,
    cwd: ROOT,
    script,
    args: envFileArgs(envVar),
    interpreter: PYTHON,
    exec_mode: "fork",
    instances: 1,
    autorestart: true,
    max_restarts: 10, // then "errored": a config/startup error should not loop forever
    min_uptime: "30s", // an exit sooner than this counts as an unstable restart
    restart_delay: 5000,
    kill_timeout: 30000, // pm2 sends SIGINT (its default, PM2_KILL_SIGNAL), then SIGKILL after 30 s
    // Signal only the daemon: it stops its own encoders/scorers in order. With treekill the
    // ffmpeg children would get SIGINT too and fail the work the grace period is meant to finish.
    treekill: false,
    // The daemons stamp every line themselves; pm2's own timestamp would make two per line.
    time: false,
    // Exit code 2 = bad configuration: restarting cannot fix it, so pm2 marks the app stopped at once.
    stop_exit_codes: [2],
    merge_logs: true,
    out_file: path.join(LOG_DIR, `${name}.out.log`),
    error_file: path.join(LOG_DIR, `${name}.err.log`),
    env: {
      PYTHONUNBUFFERED: "1",
    },
  };
}

// Ray nodes for executor=ray (docs/operations.md "Running on a cluster"), listed only when asked for:
//   VIDAIO_RAY_HEAD=1 scripts/pm2.sh start ecosystem.config.js --only vidaio-ray-head
//   VIDAIO_RAY_ADDRESS=10.0.0.1:6379 scripts/pm2.sh start ecosystem.config.js --only vidaio-ray-worker
// `ray start --block` stops its node's processes on SIGINT; the head takes no jobs (no vidaio_worker).
function rayNode(name, args) {
  return {
    ...app(name, path.join(path.dirname(PYTHON), "ray"), "VIDAIO_RAY_ENV_FILE_UNUSED"),
    args: ["start", "--block", "--disable-usage-stats", ...args],
    interpreter: "none",
    kill_timeout: 60000, // a draining worker finishes or cancels its jobs first
  };
}

const rayApps = [];
if (process.env.VIDAIO_RAY_HEAD) {
  rayApps.push(rayNode("vidaio-ray-head", [
    "--head", `--port=${process.env.VIDAIO_RAY_PORT || "6379"}`, "--include-dashboard=false",
    `--num-cpus=${process.env.VIDAIO_RAY_NUM_CPUS || "1"}`, "--resources", JSON.stringify({ vidaio_head: 1 }),
  ]));
}
if (process.env.VIDAIO_RAY_ADDRESS) {
  const worker = ["--address", process.env.VIDAIO_RAY_ADDRESS, "--resources", JSON.stringify({ vidaio_worker: 1 })];
  if (process.env.VIDAIO_RAY_NUM_CPUS) worker.push(`--num-cpus=${process.env.VIDAIO_RAY_NUM_CPUS}`);
  if (process.env.VIDAIO_RAY_NUM_GPUS) worker.push(`--num-gpus=${process.env.VIDAIO_RAY_NUM_GPUS}`);
  rayApps.push(rayNode("vidaio-ray-worker", worker));
}

module.exports = {
  apps: [
    app("vidaio-miner", "neurons/miner.py", "VIDAIO_MINER_ENV_FILE"),
    app("vidaio-validator", "neurons/validator.py", "VIDAIO_VALIDATOR_ENV_FILE"),
    ...rayApps,
  ],
};
