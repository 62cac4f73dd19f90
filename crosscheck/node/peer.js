// Shared plumbing for the Node peer scripts of gcptoken's cross-check suite.
//
// Every script reads one JSON object (its parameters) from stdin and prints
// one JSON object to stdout. A failure prints the error (with the HTTP body
// the library got, if any) to stderr and exits non-zero; the Go test reports
// it verbatim.
'use strict';

const fs = require('node:fs');

// Bounds every HTTP request a script makes; the Go test bounds the process too.
const TIMEOUT_MS = 20000;

function params() {
  return JSON.parse(fs.readFileSync(0, 'utf8'));
}

function version() {
  return require('google-auth-library/package.json').version;
}

// guardTransport makes a client's transporter (a gaxios instance; the
// documented way to customise one is gaxios request interceptors) refuse any
// URL outside the fake, so a library default we did not override fails the
// test instead of reaching Google. `redirect` maps a full URL to the URL to
// use instead; every redirect is recorded in `log`.
function guardTransport(client, base, redirect = {}, log = []) {
  client.transporter.interceptors.request.add({
    resolved: async (opts) => {
      const from = opts.url.toString();
      const to = redirect[from];
      if (to !== undefined) {
        opts.url = new URL(to);
        log.push({from, to});
      } else if (!from.startsWith(base + '/')) {
        throw new Error(`crosscheck: refusing request to ${from}: only the fake at ${base} may be called`);
      }
      opts.timeout = TIMEOUT_MS;
      return opts;
    },
  });
  return log;
}

function emit(result) {
  result.google_auth_library_version = version();
  result.node_version = process.version;
  process.stdout.write(JSON.stringify(result) + '\n');
}

// run executes main and turns a rejection into a readable failure.
function run(main) {
  main().catch((err) => {
    const body = err && err.response && err.response.data;
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    if (body !== undefined) {
      process.stderr.write(`HTTP ${err.response.status} body: ${JSON.stringify(body)}\n`);
    }
    process.exit(1);
  });
}

module.exports = {params, guardTransport, emit, run, TIMEOUT_MS};
