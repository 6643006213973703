// The child process of the AAD tests: real @azure/identity and @azure/msal-node code, run in a
// `node` started with the environment under test (NODE_EXTRA_CA_CERTS, HTTPS_PROXY, AZURE_* ...
// are only read at start-up or by the SDKs themselves). Reads a JSON list of steps on stdin, runs
// them one after another and prints one JSON object {results: [...]} on stdout.
//
// Steps:
//   {id, kind: 'identity', credential: 'ClientSecretCredential', args: [...], scopes: [...]}
//       new identity[credential](...args), then getToken(scope) for each scope
//   {id, kind: 'msal-confidential', config, scopes: [...]}
//       ConfidentialClientApplication(config).acquireTokenByClientCredential per scope
//   {id, kind: 'msal-public', config, username, password, scope, silentScope}
//       PublicClientApplication(config): acquireTokenByUsernamePassword(scope), then
//       acquireTokenSilent(silentScope, forceRefresh) for the account it returned
// Results: {id, ok: true, tokens: [...]} or {id, ok: false, error: {name, message, code, ...}}.
import * as identity from '@azure/identity';
import { ConfidentialClientApplication, LogLevel, PublicClientApplication } from '@azure/msal-node';

import { describeError, readScenario } from './sdk-child.mjs';

const msalSystem = {
  loggerOptions: {
    logLevel: LogLevel.Warning,
    piiLoggingEnabled: false,
    loggerCallback: (_level, message) => process.stderr.write(`msal: ${message}\n`),
  },
};

function msalToken(r) {
  return {
    token: r.accessToken,
    expiresOnTimestamp: r.expiresOn ? r.expiresOn.getTime() : null,
    tokenType: r.tokenType,
    fromCache: r.fromCache,
    scopes: r.scopes,
  };
}

async function runStep(step) {
  switch (step.kind) {
    case 'identity': {
      const Credential = identity[step.credential];
      if (typeof Credential !== 'function') throw new Error(`no credential ${step.credential}`);
      const cred = new Credential(...(step.args ?? []));
      const tokens = [];
      for (const scope of step.scopes) {
        const t = await cred.getToken(scope);
        tokens.push({ scope, token: t.token, expiresOnTimestamp: t.expiresOnTimestamp, tokenType: t.tokenType });
      }
      return { tokens };
    }
    case 'msal-confidential': {
      const app = new ConfidentialClientApplication({ ...step.config, system: msalSystem });
      const tokens = [];
      for (const scope of step.scopes) {
        const r = await app.acquireTokenByClientCredential({ scopes: [scope] });
        tokens.push({ scope, ...msalToken(r) });
      }
      return { tokens };
    }
    case 'msal-public': {
      const app = new PublicClientApplication({ ...step.config, system: msalSystem });
      const first = await app.acquireTokenByUsernamePassword({
        scopes: [step.scope],
        username: step.username,
        password: step.password,
      });
      const silent = await app.acquireTokenSilent({
        account: first.account,
        scopes: [step.silentScope],
        forceRefresh: true,
      });
      const accounts = await app.getTokenCache().getAllAccounts();
      return {
        tokens: [{ scope: step.scope, ...msalToken(first) }, { scope: step.silentScope, ...msalToken(silent) }],
        account: first.account,
        idTokenClaims: first.idTokenClaims,
        silentAccount: silent.account,
        accounts: accounts.length,
      };
    }
    default:
      throw new Error(`unknown step kind ${step.kind}`);
  }
}

const steps = await readScenario();
const results = [];
for (const step of steps) {
  try {
    results.push({ id: step.id, ok: true, ...(await runStep(step)) });
  } catch (err) {
    results.push({ id: step.id, ok: false, error: describeError(err) });
  }
}
process.stdout.write(`${JSON.stringify({ results })}\n`);
// Keep-alive sockets and SDK timers must not hold the child open.
process.exit(0);
