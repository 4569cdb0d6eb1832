// The one dockerconfigjson reader and writer: what the pull-secret inventory, the upstream
// credentials and the Harbor entry step 06 adds all rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseDockerConfig,
  registryCredentials,
  registryHost,
  serializeDockerConfig,
  withRegistryAuth,
} from '../../src/core/docker-config.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

test('parses raw JSON and base64 of it to the same document, every field kept', () => {
  const json = '{"auths":{"ghcr.io":{"auth":"dTpw","email":"a@b"}},"credsStore":"desktop"}';
  const expected = { auths: { 'ghcr.io': { auth: 'dTpw', email: 'a@b' } }, credsStore: 'desktop' };
  assert.deepEqual(parseDockerConfig(json), expected);
  assert.deepEqual(parseDockerConfig(json, 'json'), expected);
  assert.deepEqual(parseDockerConfig(b64(json), 'base64'), expected);
});

test('malformed JSON throws a SyntaxError; the caller decides what it means', () => {
  assert.throws(() => parseDockerConfig('{"auths":'), SyntaxError);
  assert.throws(() => parseDockerConfig(''), SyntaxError);
  assert.throws(() => parseDockerConfig(b64('not json'), 'base64'), SyntaxError);
  // An empty Secret key decodes to nothing, which is not JSON either.
  assert.throws(() => parseDockerConfig('', 'base64'), SyntaxError);
});

test('a JSON value without an auths object has no entries', () => {
  for (const text of ['{}', 'null', '42', '[]', '{"auths":null}', '{"auths":["ghcr.io"]}'])
    assert.deepEqual(parseDockerConfig(text).auths, {}, text);
  assert.deepEqual(parseDockerConfig('{"credsStore":"x"}'), { credsStore: 'x', auths: {} });
});

test('an auths key names its registry host without scheme or path', () => {
  assert.equal(registryHost('ghcr.io'), 'ghcr.io');
  assert.equal(registryHost('https://index.docker.io/v1/'), 'index.docker.io');
  assert.equal(registryHost('http://127.0.0.1:15001'), '127.0.0.1:15001');
  assert.equal(registryHost('registry.example:5000/some/path'), 'registry.example:5000');
});

test('credentials by host: from auth, the password keeping its colons', () => {
  const config = parseDockerConfig(JSON.stringify({ auths: { 'https://ghcr.io/v1/': { auth: b64('bot:pa:ss') } } }));
  assert.deepEqual([...registryCredentials(config)], [['ghcr.io', { username: 'bot', password: 'pa:ss' }]]);
});

test('credentials by host: username and password given in the entry win over auth', () => {
  const config = parseDockerConfig(
    JSON.stringify({
      auths: {
        a: { username: 'given', auth: b64('encoded:secret') },
        b: { password: 'given', auth: b64('encoded:secret') },
        c: { username: 'u', password: 'p' },
        d: { auth: b64('nocolon') },
        e: {},
        f: null,
      },
    }),
  );
  assert.deepEqual(Object.fromEntries(registryCredentials(config)), {
    a: { username: 'given', password: 'secret' },
    b: { username: 'encoded', password: 'given' },
    c: { username: 'u', password: 'p' },
    d: { username: 'nocolon', password: '' },
    e: { username: '', password: '' },
    f: { username: '', password: '' },
  });
});

test('credentials by host: of two keys naming one host, the later wins', () => {
  const config = parseDockerConfig(
    JSON.stringify({ auths: { 'ghcr.io': { username: 'first' }, 'https://ghcr.io/': { username: 'second' } } }),
  );
  assert.deepEqual(Object.fromEntries(registryCredentials(config)), {
    'ghcr.io': { username: 'second', password: '' },
  });
});

test('adding an entry leaves every other entry and field as written, in order', () => {
  const original = '{"credsStore":"x","auths":{"ghcr.io":{"auth":"Zzo6","email":"a@b"}},"HttpHeaders":{"X":"y"}}';
  const config = parseDockerConfig(original);
  const added = withRegistryAuth(config, 'harbor.local', { username: 'admin', password: 'Harbor:12345' });
  assert.ok(added);
  assert.equal(
    serializeDockerConfig(added),
    '{"credsStore":"x","auths":{"ghcr.io":{"auth":"Zzo6","email":"a@b"},' +
      `"harbor.local":{"username":"admin","password":"Harbor:12345","auth":"${b64('admin:Harbor:12345')}"}},` +
      '"HttpHeaders":{"X":"y"}}',
  );
  // The parsed document is not changed in place.
  assert.equal(serializeDockerConfig(config), original);
});

test('adding an entry whose auth is already there changes nothing', () => {
  const credentials = { username: 'admin', password: 'pw' };
  const once = withRegistryAuth(parseDockerConfig('{"auths":{}}'), 'harbor.local', credentials);
  assert.ok(once);
  assert.equal(withRegistryAuth(once, 'harbor.local', credentials), undefined);
  // Only `auth` is compared: an entry encoding the same credentials is left as it is.
  assert.equal(
    withRegistryAuth(parseDockerConfig(`{"auths":{"h":{"auth":"${b64('admin:pw')}"}}}`), 'h', credentials),
    undefined,
  );
});

test('adding an entry for a host with other credentials replaces that entry whole', () => {
  const config = parseDockerConfig(`{"auths":{"h":{"auth":"${b64('old:pw')}","email":"x"},"k":{}}}`);
  const added = withRegistryAuth(config, 'h', { username: 'new', password: 'pw' });
  assert.deepEqual(added?.auths, {
    h: { username: 'new', password: 'pw', auth: b64('new:pw') },
    k: {},
  });
});

test('a document without auths is given one', () => {
  const added = withRegistryAuth(parseDockerConfig('{}'), 'h', { username: 'u', password: 'p' });
  assert.equal(
    serializeDockerConfig(added ?? { auths: {} }),
    `{"auths":{"h":{"username":"u","password":"p","auth":"${b64('u:p')}"}}}`,
  );
});

test('serialisation round-trips through the parser, as JSON and as base64 Secret data', () => {
  const config = parseDockerConfig('{"auths":{"ghcr.io":{"auth":"dTpw"}}}');
  const json = serializeDockerConfig(config);
  assert.equal(json, '{"auths":{"ghcr.io":{"auth":"dTpw"}}}');
  assert.deepEqual(parseDockerConfig(Buffer.from(json).toString('base64'), 'base64'), config);
});
