import { describe, expect, it } from 'vitest';
import { pathSegments } from '../../../../console/hub/operator/static-files.js';

describe('pathSegments', () => {
  it('splits and decodes each segment on its own', () => {
    expect(pathSegments('/')).toEqual([]);
    expect(pathSegments('/assets/app.js')).toEqual(['assets', 'app.js']);
    expect(pathSegments('/gateways/gw%201')).toEqual(['gateways', 'gw 1']);
  });

  it.each([
    '/..',
    '/../x',
    '/a/../x',
    '/%2e%2e/x',
    '/%2E%2e/x',
    '/.%2e/x',
    '/./x',
    '/%2e/x',
    '/a%2fb',
    '/a%2Fb',
    '/a%5cb',
    '/a\\b',
    '/a%00b',
    '/.env',
    '/a//b',
    '/a/',
    '/%e0%a4%a',
    'relative/x',
    'http://evil.example/x',
  ])('refuses %s before the file system sees it', (path) => {
    expect(pathSegments(path)).toBeUndefined();
  });
});
