// Child process for frontdoor-clients.test.mjs: GET each URL given on the command line with the
// real @azure/core-rest-pipeline, configured by nothing but the environment (HTTPS_PROXY /
// HTTP_PROXY for the default proxy policy, NODE_EXTRA_CA_CERTS for trust, read at start-up).
// Prints {policies, results: [{url, status, body} | {url, error}]} as JSON on stdout.
import {
  createDefaultHttpClient,
  createPipelineFromOptions,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';

const pipeline = createPipelineFromOptions({});
const client = createDefaultHttpClient();
const results = [];
for (const url of process.argv.slice(2)) {
  try {
    // Plain http (IMDS) needs the flag the SDK's managed-identity code sets for it too.
    const request = createPipelineRequest({
      url,
      method: 'GET',
      timeout: 10_000,
      allowInsecureConnection: url.startsWith('http:'),
    });
    const r = await pipeline.sendRequest(client, request);
    results.push({ url, status: r.status, body: r.bodyAsText });
  } catch (err) {
    results.push({ url, error: `${err.code ?? err.name}: ${err.message}` });
  }
}
process.stdout.write(JSON.stringify({
  policies: pipeline.getOrderedPolicies().map((p) => p.name),
  results,
}));
