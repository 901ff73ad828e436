/** The fleet registry's rows: every field survives a restart, an update replaces the row. */
import { describe, expect, it } from 'vitest';
import { aDataDir, aGatewayRow, aHello, aStore, rawDb } from './builders.js';

describe('fleet registry', () => {
  it('gives back every field of every gateway after a reopen, sorted by id', () => {
    const dataDir = aDataDir();
    const store = aStore(dataDir);
    const full = aGatewayRow({ gatewayId: 'gw-b' });
    const bare = aGatewayRow({
      gatewayId: 'gw-a',
      siteName: null,
      labels: [],
      state: 'offline',
      agentVersion: null,
      certSerial: null,
      certSubject: null,
      certNotAfter: null,
      hello: null,
      viaProxy: false,
      interceptionSuspected: true,
      remoteAddress: null,
      targetKw: null,
    });
    store.upsertGateway(full);
    store.upsertGateway(bare);
    store.close();
    expect(aStore(dataDir).listGateways()).toEqual([bare, full]);
  });

  it('replaces a gateway row on upsert instead of adding a second one', () => {
    const store = aStore();
    store.upsertGateway(aGatewayRow());
    const offline = aGatewayRow({ state: 'offline', since: 99, lastSeen: 99, hello: aHello({ agentVersion: '1.3.0' }), agentVersion: '1.3.0' });
    store.upsertGateway(offline);
    expect(store.listGateways()).toEqual([offline]);
  });

  it('reports a row whose hello is not a hello as STORE_UNAVAILABLE naming the table, the row and the column', () => {
    const store = aStore();
    store.upsertGateway(aGatewayRow({ gatewayId: 'gw-7' }));
    rawDb(store.path).prepare("UPDATE gateways SET hello = '{\"kind\":\"hello\",\"devices\":3}' WHERE gateway_id = 'gw-7'").run();
    expect(() => store.listGateways()).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/table gateways, row gw-7.*column hello/) }));
  });

  it('reports labels that are not JSON the same way', () => {
    const store = aStore();
    store.upsertGateway(aGatewayRow({ gatewayId: 'gw-8' }));
    rawDb(store.path).prepare("UPDATE gateways SET labels = 'north,south' WHERE gateway_id = 'gw-8'").run();
    expect(() => store.listGateways()).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/table gateways, row gw-8.*column labels is not JSON/) }));
  });
});
