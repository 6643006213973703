// The sample app of a "VM": nothing in it knows about azsim. It reads one Key Vault secret and
// one blob with DefaultAzureCredential (the managed identity, through IMDS at 169.254.169.254)
// and the real Azure URLs; the environment decides which identity (AZURE_CLIENT_ID for a
// user-assigned one) and how the HTTPS traffic reaches azsim (HTTPS_PROXY, NODE_EXTRA_CA_CERTS).
//
//   KEY_VAULT_URL=https://<vault>.vault.azure.net  SECRET_NAME=<name>
//   BLOB_URL=https://<account>.blob.core.windows.net/<container>/<blob>
//
// Prints one line per read and exits 0 only when both succeed.
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { BlobClient } from "@azure/storage-blob";

const name = process.env.APP_NAME ?? "app";
const credential = new DefaultAzureCredential();

async function readSecret() {
  const client = new SecretClient(process.env.KEY_VAULT_URL, credential);
  const secret = await client.getSecret(process.env.SECRET_NAME);
  return secret.value;
}

async function readBlob() {
  const blob = new BlobClient(process.env.BLOB_URL, credential);
  return (await blob.downloadToBuffer()).toString("utf8");
}

let failed = false;
for (const [what, read] of [["secret", readSecret], ["blob", readBlob]]) {
  try {
    console.log(`${name}: ${what}: ${await read()}`);
  } catch (e) {
    failed = true;
    console.log(`${name}: ${what}: FAILED ${e.statusCode ?? ""} ${e.code ?? ""} ${e.message.split("\n")[0]}`);
  }
}
process.exit(failed ? 1 : 0);
