// What the SDK child processes (aad-client, arm-client, mi-client) share: the scenario on stdin,
// errors as plain JSON, a pipeline policy that records every request with the claims of its bearer
// token, and running named steps each on its own (a failure is recorded and the next one runs).

/** An SDK error as JSON: name, message, codes, status, and the errors an aggregate holds. */
export function describeError(err) {
  return {
    name: err?.name,
    message: String(err?.message ?? err),
    code: err?.code,
    errorCode: err?.errorCode,
    statusCode: err?.statusCode,
    errors: Array.isArray(err?.errors) ? err.errors.map(describeError) : undefined,
    stack: err?.stack,
  };
}

/** The JSON document on stdin. */
export async function readScenario() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** The claims of an "Authorization: Bearer <jwt>" value, unverified; {} without a token. */
function bearerClaims(authorization) {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token) return {};
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return { aud: 'unreadable' };
  }
}

/**
 * Records requests: `requests` lists every one ({method, url, status, aud, oid}, from the bearer
 * token it carried); `policy` goes in a client's additionalPolicies. Placed after the retry phase,
 * hence after the bearer token policy, it sees the final request.
 */
export class Recorder {
  requests = [];
  statuses = []; // of the step being run

  policy = {
    policy: {
      name: 'azsimRecorder',
      sendRequest: async (request, next) => {
        const claims = bearerClaims(request.headers.get('authorization'));
        const entry = { method: request.method, url: request.url, aud: claims.aud ?? null, oid: claims.oid ?? null };
        this.requests.push(entry);
        const response = await next(request);
        entry.status = response.status;
        this.statuses.push(response.status);
        return response;
      },
    },
    position: 'perRetry',
  };
}

/**
 * Run [id, fn] steps in order and print {results: [{id, ok, value | error, statuses}], requests}
 * on stdout, then exit (keep-alive sockets and SDK timers must not hold the child open).
 */
export async function runSteps(steps, recorder = new Recorder()) {
  const results = [];
  for (const [id, fn] of steps) {
    recorder.statuses = [];
    try {
      const value = await fn();
      results.push({ id, ok: true, value: value === undefined ? null : value, statuses: recorder.statuses });
    } catch (err) {
      results.push({ id, ok: false, error: describeError(err), statuses: recorder.statuses });
    }
  }
  process.stdout.write(`${JSON.stringify({ results, requests: recorder.requests })}\n`);
  process.exit(0);
}
