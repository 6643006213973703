// Platform VM images (arm/images.c): az's image alias document under raw.githubusercontent.com
// through the front door, and Microsoft.Compute's VirtualMachineImages operations on the arm
// listener, both from one catalog — shapes, ordering, and the edge cases: unknown publisher,
// offer, sku or version, an unknown location, no api-version, no token, no role. Also the VM
// identity PATCH az sends to detach a user-assigned identity (lower-cased id, null value).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';
import * as px from './lib/proxy.mjs';

const API = 'api-version=2020-06-01';
const ALIAS_HOST = 'raw.githubusercontent.com';
const ALIAS_PATH = '/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json';
const JAMMY = ['Canonical', '0001-com-ubuntu-server-jammy', '22_04-lts-gen2'];

describe('ARM: VM images and the image alias document', () => {
  let s, info, admin, sub, rg, ok;
  const arm = (method, path, body, t = admin) => armLib.armRequest(s, t, method, path, body);
  const loc = (location = 'westus') => `${sub}/providers/Microsoft.Compute/locations/${location}`;
  const versions = (p, o, k, location) =>
    `${loc(location)}/publishers/${p}/artifacttypes/vmimage/offers/${o}/skus/${k}/versions`;
  const viaFrontDoor = (host, path) => px.tunnelGet(s.ports.proxy, host, path, { ca: s.caPem });
  const assertError = (r, status, code, message) => {
    assert.equal(r.status, status, r.text);
    assert.equal(r.json().error.code, code, r.text);
    if (message) assert.match(r.json().error.message, message, r.text);
  };

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await armLib.adminWorkspace('images-rg'));
  });
  after(() => az.finish(s));

  describe('the alias document', () => {
    it('is served under raw.githubusercontent.com without a token, as text like GitHub serves it', async () => {
      const r = await viaFrontDoor(ALIAS_HOST, ALIAS_PATH);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers['content-type'], /^text\/plain/);
      const doc = r.json();
      assert.equal(doc.contentVersion, '1.0.0.0');
      assert.deepEqual([doc.parameters, doc.variables, doc.resources], [{}, {}, []]);
      assert.equal(doc.outputs.aliases.type, 'object');
      const { Linux, Windows } = doc.outputs.aliases.value;
      assert.deepEqual(Linux.Ubuntu2204, {
        publisher: JAMMY[0], offer: JAMMY[1], sku: JAMMY[2], version: 'latest', architecture: 'x64',
      });
      for (const a of ['UbuntuLTS', 'Debian11', 'CentOS85Gen2']) assert.ok(Linux[a], a);
      for (const a of ['Win2022Datacenter', 'Win2019Datacenter', 'Win2016Datacenter', 'Win2012R2Datacenter']) {
        assert.ok(Windows[a], a);
      }
      assert.equal(Windows.Win2016Datacenter.sku, '2016-Datacenter');
    });

    it('is the only thing on that host: other files and ARM paths are 404, token or not', async () => {
      for (const path of [
        '/Azure/azure-rest-api-specs/main/README.md',
        `${ALIAS_PATH}x`,
        `${sub}/resourcegroups?api-version=2021-04-01`,
        `${loc()}/publishers?${API}`,
        '/metadata/endpoints?api-version=2015-01-01',
      ]) {
        const r = await viaFrontDoor(ALIAS_HOST, path);
        assert.equal(r.status, 404, `${path}: ${r.text}`);
      }
    });

    it('is not a file of management.azure.com, but azsim\'s own ARM listener has it (custom clouds)', async () => {
      const r = await viaFrontDoor('management.azure.com', ALIAS_PATH);
      assert.equal(r.status, 404, r.text);
      const direct = await s.request('arm', ALIAS_PATH);
      assert.equal(direct.status, 200, direct.text);
      assert.ok(direct.json().outputs.aliases.value.Linux.Ubuntu2204);
    });

    it('names only images the image operations know, each of the alias\'s own OS', async () => {
      const doc = (await s.request('arm', ALIAS_PATH)).json();
      for (const [os, aliases] of Object.entries(doc.outputs.aliases.value)) {
        for (const [alias, ref] of Object.entries(aliases)) {
          const list = await ok('GET', `${versions(ref.publisher, ref.offer, ref.sku)}?$top=1&$orderby=name%20desc&${API}`);
          assert.equal(list.length, 1, alias);
          const image = await ok('GET', `${versions(ref.publisher, ref.offer, ref.sku)}/${list[0].name}?${API}`);
          assert.equal(image.properties.osDiskImage.operatingSystem, os, alias);
          assert.equal(image.properties.architecture, ref.architecture, alias);
        }
      }
    });
  });

  describe('image operations', () => {
    it('list publishers, offers and skus: bare arrays of {location, name, id} spelled as Azure spells ids', async () => {
      const publishers = await ok('GET', `${loc()}/publishers?${API}`);
      assert.ok(Array.isArray(publishers));
      const canonical = publishers.find((p) => p.name === 'Canonical');
      assert.deepEqual(canonical, {
        location: 'westus',
        name: 'Canonical',
        id: `/Subscriptions/${info.subscriptionId}/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical`,
      });
      assert.equal(new Set(publishers.map((p) => p.name.toLowerCase())).size, publishers.length, 'each once');
      const offers = await ok('GET', `${loc()}/publishers/canonical/artifacttypes/vmimage/offers?${API}`);
      assert.deepEqual(offers.map((o) => o.name).sort(), ['0001-com-ubuntu-server-jammy', 'UbuntuServer']);
      assert.equal(offers.find((o) => o.name === JAMMY[1]).id,
        `${canonical.id}/ArtifactTypes/VMImage/Offers/${JAMMY[1]}`);
      const skus = await ok('GET', `${loc()}/publishers/MicrosoftWindowsServer/ArtifactTypes/VMImage/offers/windowsserver/skus?${API}`);
      for (const k of ['2022-Datacenter', '2019-Datacenter', '2016-Datacenter', '2012-R2-Datacenter']) {
        assert.ok(skus.some((x) => x.name === k), k);
      }
    });

    it('list versions: ascending by default, $orderby=name desc and $top as az vm create asks', async () => {
      const all = await ok('GET', `${versions(...JAMMY)}?${API}`);
      assert.deepEqual(all.map((v) => v.name), ['22.04.202212140', '22.04.202301140']);
      assert.equal(all[1].id, `/Subscriptions/${info.subscriptionId}/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/${JAMMY[1]}/Skus/${JAMMY[2]}/Versions/22.04.202301140`);
      assert.equal(all[0].properties, undefined, 'no properties without $expand');
      const newest = await ok('GET', `${versions('MicrosoftWindowsServer', 'WindowsServer', '2016-Datacenter')}?$top=1&$orderby=name%20desc&${API}`);
      assert.deepEqual(newest.map((v) => v.name), ['14393.5648.230111']);
      const none = await ok('GET', `${versions(...JAMMY)}?$top=0&${API}`);
      assert.deepEqual(none, []);
      const expanded = await ok('GET', `${versions(...JAMMY)}?$expand=properties&${API}`);
      assert.equal(expanded[0].properties.architecture, 'x64');
      assert.equal(expanded[0].properties.hyperVGeneration, 'V2');
      const bad = await arm('GET', `${versions(...JAMMY)}?$top=many&${API}`);
      assertError(bad, 400, 'InvalidParameter', /\$top/);
    });

    it('get one version: the OS that decides SSH or RDP, the generation, no plan', async () => {
      const win = await ok('GET', `${versions('MicrosoftWindowsServer', 'WindowsServer', '2016-Datacenter')}/14393.5648.230111?${API}`);
      assert.equal(win.name, '14393.5648.230111');
      assert.equal(win.location, 'westus');
      assert.deepEqual(win.properties.osDiskImage, { operatingSystem: 'Windows' });
      assert.equal(win.properties.hyperVGeneration, 'V1');
      assert.deepEqual(win.properties.dataDiskImages, []);
      assert.equal(win.properties.automaticOSUpgradeProperties.automaticOSUpgradeSupported, true);
      assert.equal(win.properties.plan, undefined);
      const linux = await ok('GET', `${versions('canonical', JAMMY[1].toUpperCase(), JAMMY[2])}/22.04.202301140?${API}`);
      assert.deepEqual(linux.properties.osDiskImage, { operatingSystem: 'Linux' });
      assert.equal(linux.properties.hyperVGeneration, 'V2');
      assert.ok(linux.id.endsWith(`/Offers/${JAMMY[1]}/Skus/${JAMMY[2]}/Versions/22.04.202301140`), 'the catalog\'s spelling');
    });

    it('unknown publisher, offer, sku or version: 404 NotFound as Azure words it', async () => {
      assertError(await arm('GET', `${loc()}/publishers/NoSuchPublisher/artifacttypes/vmimage/offers?${API}`),
        404, 'NotFound', /^Publisher: NoSuchPublisher was not found\.$/);
      const artifact = /^Artifact: VMImage was not found\.$/;
      assertError(await arm('GET', `${loc()}/publishers/Canonical/artifacttypes/vmimage/offers/NoSuchOffer/skus?${API}`),
        404, 'NotFound', artifact);
      assertError(await arm('GET', `${versions('Canonical', JAMMY[1], 'no-such-sku')}?$top=1&$orderby=name%20desc&${API}`),
        404, 'NotFound', artifact);
      assertError(await arm('GET', `${versions('NoSuchPublisher', 'x', 'y')}/1.0.0?${API}`), 404, 'NotFound', artifact);
      assertError(await arm('GET', `${versions(...JAMMY)}/22.04.000000000?${API}`), 404, 'NotFound', artifact);
      // Clients resolve "latest" themselves ($top=1&$orderby=name desc).
      assertError(await arm('GET', `${versions(...JAMMY)}/latest?${API}`), 404, 'NotFound', artifact);
    });

    it('an unknown location is 400 NoRegisteredProviderFound; a display name is accepted', async () => {
      const r = await arm('GET', `${loc('atlantis')}/publishers?${API}`);
      assertError(r, 400, 'NoRegisteredProviderFound', /location 'atlantis'.*The supported locations are '.*westus/);
      assertError(await arm('GET', `${versions('Canonical', JAMMY[1], JAMMY[2], 'atlantis')}?${API}`),
        400, 'NoRegisteredProviderFound');
      const shown = await ok('GET', `${loc('West%20US')}/publishers?${API}`);
      assert.equal(shown[0].location, 'westus');
    });

    it('needs an api-version, a token, a subscription that exists and a role that reads', async () => {
      assertError(await arm('GET', `${loc()}/publishers`), 400, 'MissingApiVersionParameter');
      assertError(await arm('GET', `${versions(...JAMMY)}`), 400, 'MissingApiVersionParameter');
      const anonymous = await s.request('arm', `${loc()}/publishers?${API}`);
      assertError(anonymous, 401, 'AuthenticationFailed');
      assertError(await arm('GET', `/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Compute/locations/westus/publishers?${API}`),
        404, 'SubscriptionNotFound');
      const nobody = await armLib.principal(s, info.tenantId, 'images-nobody');
      const denied = await arm('GET', `${versions(...JAMMY)}?${API}`, undefined, nobody.token);
      assertError(denied, 403, 'AuthorizationFailed',
        /Microsoft\.Compute\/locations\/publishers\/artifacttypes\/offers\/skus\/versions\/read/);
      await ok('PUT', `${sub}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`, {
        properties: {
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${armLib.ROLES.Reader}`,
          principalId: nobody.oid,
          principalType: 'ServicePrincipal',
        },
      });
      const allowed = await arm('GET', `${versions(...JAMMY)}?${API}`, undefined, nobody.token);
      assert.equal(allowed.status, 200, allowed.text);
    });
  });

  describe('VM identity PATCH', () => {
    it('a null under the lower-cased id of an attached identity detaches it (az vm identity remove)', async () => {
      const uai = async (name) =>
        ok('PUT', `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=2018-11-30`, { location: 'westus' });
      const one = await uai('Uai-One');
      const two = await uai('uai-two');
      const vm = `${rg}/providers/Microsoft.Compute/virtualMachines/images-vm?${API}`;
      await ok('PUT', vm, {
        location: 'westus',
        properties: { hardwareProfile: { vmSize: 'Standard_B1s' } },
        identity: { type: 'UserAssigned', userAssignedIdentities: { [one.id]: {}, [two.id]: {} } },
      });
      const patched = await ok('PATCH', vm, {
        identity: { type: 'UserAssigned', userAssignedIdentities: { [one.id.toLowerCase()]: null } },
      });
      assert.deepEqual(Object.keys(patched.identity.userAssignedIdentities), [two.id]);
      const shown = await ok('GET', vm);
      assert.deepEqual(Object.keys(shown.identity.userAssignedIdentities), [two.id]);
      // Detaching the last one while still asking for UserAssigned is refused.
      const none = await arm('PATCH', vm, {
        identity: { type: 'UserAssigned', userAssignedIdentities: { [two.id.toUpperCase()]: null } },
      });
      assertError(none, 400, 'InvalidParameter');
    });
  });
});
