import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, isPublicAddress } from '../../src/domain/webhook-url.js';

/** Issue #18, Safety: where a webhook may go. Tables of what an attacker with the admin role would try. */

const PRODUCTION = { requireHttps: true, allowPrivate: false };
const DEVELOPMENT = { requireHttps: false, allowPrivate: true };

describe('isPublicAddress: only globally routable unicast', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.15.255.255', // just below 172.16/12
    '172.32.0.1', // just above
    '100.63.255.255', // just below 100.64/10
    '100.128.0.1', // just above
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8', // IPv4-mapped public: the socket reaches 8.8.8.8
    '64:ff9b::808:808', // NAT64 of 8.8.8.8
    '2002:808:808::1', // 6to4 of 8.8.8.8
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7', // Teredo: server 65.54.227.120, client 8.8.8.8
  ])('%s is public', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', '0.0.0.0/8 ("this network")'],
    ['10.0.0.1', 'private 10/8'],
    ['10.255.255.255', 'private 10/8'],
    ['172.16.0.1', 'private 172.16/12'],
    ['172.31.255.254', 'private 172.16/12'],
    ['192.168.1.1', 'private 192.168/16'],
    ['127.0.0.1', 'loopback'],
    ['127.53.0.9', 'loopback 127/8'],
    ['169.254.169.254', 'the cloud metadata address'],
    ['169.254.0.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['192.0.0.170', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast (SSDP)'],
    ['240.0.0.1', 'reserved 240/4'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'IPv6 unspecified'],
    ['::1', 'IPv6 loopback'],
    ['fe80::1', 'IPv6 link-local'],
    ['febf::1', 'IPv6 link-local (end of fe80::/10)'],
    ['fc00::1', 'unique local'],
    ['fd12:3456:789a::1', 'unique local'],
    ['fec0::1', 'deprecated site-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex spelling'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata address'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated loopback (RFC 6145)'],
    ['::127.0.0.1', 'deprecated IPv4-compatible'],
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254'],
    ['64:ff9b:1::808:808', 'NAT64 local-use prefix (RFC 8215)'],
    ['2002:7f00:1::1', '6to4 of 127.0.0.1'],
    ['2002:a00:1::1', '6to4 of 10.0.0.1'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo with client 127.0.0.1'],
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'Teredo with server 10.0.0.1'],
    ['4000::1', 'outside global unicast 2000::/3'],
    ['fe80::1%eth0', 'an address with a zone'],
    ['not an address', 'text'],
    ['', 'empty'],
    ['1'.repeat(100), 'too long'],
  ])('%s is refused (%s)', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });
});

describe('checkWebhookUrl in production (https, no private targets)', () => {
  it.each([
    'https://hooks.example.com/latchkey',
    'https://hooks.example.com:8443/latchkey?tenant=7',
    'https://8.8.8.8/hook',
    'https://[2606:4700:4700::1111]/hook',
    'https://hooks.example.com./trailing-dot-fqdn',
  ])('accepts %s', (raw) => {
    const result = checkWebhookUrl(raw, PRODUCTION);
    expect(result.ok).toBe(true);
  });

  it('returns the parsed URL, whose href is what to store', () => {
    const result = checkWebhookUrl('https://Hooks.Example.COM/a/../b', PRODUCTION);
    expect(result).toEqual({ ok: true, url: new URL('https://hooks.example.com/b') });
  });

  it.each([
    ['http://hooks.example.com/', 'URL must be https:'],
    ['ftp://hooks.example.com/', 'URL must be https:'],
    ['javascript:alert(1)', 'URL must be https:'],
    ['file:///etc/passwd', 'URL must be https:'],
    ['https://user:secret@hooks.example.com/', 'URL must not contain a user name or password'],
    ['https://user@hooks.example.com/', 'URL must not contain a user name or password'],
    ['https://hooks.example.com/#frag', 'URL must not contain a fragment'],
    ['https://hooks.example.com/#', 'URL must not contain a fragment'],
    ['not a url', 'URL contains spaces or control characters'],
    ['hooks.example.com/path', 'not a URL'],
    ['https://hooks.example.com/a\tb', 'URL contains spaces or control characters'],
    [' https://hooks.example.com/', 'URL contains spaces or control characters'],
    ['https://hooks.example.com/\n', 'URL contains spaces or control characters'],
    ['', 'URL is empty'],
    [`https://hooks.example.com/${'a'.repeat(2000)}`, 'URL longer than 2000 characters'],
    ['https://127.0.0.1/', 'address not allowed: 127.0.0.1'],
    ['https://127.1/', 'address not allowed: 127.0.0.1'],
    ['https://2130706433/', 'address not allowed: 127.0.0.1'],
    ['https://0x7f000001/', 'address not allowed: 127.0.0.1'],
    ['https://0177.0.0.1/', 'address not allowed: 127.0.0.1'],
    ['https://127.0.0.1./', 'address not allowed: 127.0.0.1'],
    ['https://0.0.0.0:8080/', 'address not allowed: 0.0.0.0'],
    ['https://10.1.2.3/', 'address not allowed: 10.1.2.3'],
    ['https://172.20.0.5/', 'address not allowed: 172.20.0.5'],
    ['https://192.168.0.10/', 'address not allowed: 192.168.0.10'],
    ['https://169.254.169.254/latest/meta-data/', 'address not allowed: 169.254.169.254'],
    ['https://100.100.100.200/', 'address not allowed: 100.100.100.200'],
    ['https://[::1]/', 'address not allowed: ::1'],
    ['https://[::ffff:127.0.0.1]/', 'address not allowed: ::ffff:7f00:1'],
    ['https://[::ffff:a9fe:a9fe]/', 'address not allowed: ::ffff:a9fe:a9fe'],
    ['https://[fe80::1]/', 'address not allowed: fe80::1'],
    ['https://[fd00::1]/', 'address not allowed: fd00::1'],
    ['https://[64:ff9b::7f00:1]/', 'address not allowed: 64:ff9b::7f00:1'],
    ['https://localhost/', 'host not allowed: localhost (a local name)'],
    ['https://LOCALHOST./', 'host not allowed: localhost. (a local name)'],
    ['https://api.localhost/', 'host not allowed: api.localhost (a local name)'],
    ['https://printer.local/', 'host not allowed: printer.local (a local name)'],
    ['https://metadata.google.internal/', 'host not allowed: metadata.google.internal (a local name)'],
    ['https://router.home.arpa/', 'host not allowed: router.home.arpa (a local name)'],
    ['https://intranet/', 'host not allowed: intranet (a single-label name)'],
    ['https://metadata/', 'host not allowed: metadata (a single-label name)'],
  ])('refuses %s: %s', (raw, reason) => {
    expect(checkWebhookUrl(raw, PRODUCTION)).toEqual({ ok: false, reason });
  });

  it('bounds the URL before parsing it: a long URL is refused by its length alone', () => {
    const long = `https://${'a'.repeat(100_000)}.example.com/`;
    expect(checkWebhookUrl(long, PRODUCTION)).toEqual({
      ok: false,
      reason: 'URL longer than 2000 characters',
    });
    expect(checkWebhookUrl(`https://hooks.example.com/${'a'.repeat(1974)}`, PRODUCTION).ok).toBe(true);
  });
});

describe('checkWebhookUrl outside production', () => {
  it('allows http: when https is not required, but still refuses private targets', () => {
    const policy = { requireHttps: false, allowPrivate: false };
    expect(checkWebhookUrl('http://hooks.example.com/', policy).ok).toBe(true);
    expect(checkWebhookUrl('http://127.0.0.1:3000/', policy)).toEqual({
      ok: false,
      reason: 'address not allowed: 127.0.0.1',
    });
    expect(checkWebhookUrl('ftp://hooks.example.com/', policy)).toEqual({
      ok: false,
      reason: 'URL must be http: or https:',
    });
  });

  it('allows loopback, private addresses and local names with allowPrivate (development, tests)', () => {
    for (const raw of [
      'http://127.0.0.1:3000/hook',
      'http://localhost:3000/hook',
      'http://[::1]:3000/hook',
      'http://10.0.0.5/hook',
      'http://receiver/hook',
      'http://receiver.internal/hook',
    ])
      expect(checkWebhookUrl(raw, DEVELOPMENT).ok, raw).toBe(true);
  });

  it('keeps the rules that are not about the address with allowPrivate', () => {
    expect(checkWebhookUrl('http://u:p@127.0.0.1/', DEVELOPMENT).ok).toBe(false);
    expect(checkWebhookUrl('http://127.0.0.1/#x', DEVELOPMENT).ok).toBe(false);
    expect(checkWebhookUrl('gopher://127.0.0.1/', DEVELOPMENT).ok).toBe(false);
    expect(checkWebhookUrl('http://127.0.0.1/', { requireHttps: true, allowPrivate: true }).ok).toBe(false);
  });
});
