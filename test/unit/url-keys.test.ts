import { correlationIdOf } from '../../src/app/logging';
import { keyParameterIn, redactUrl } from '../../src/app/url-keys';

const KEY = 'dd_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde';

describe('keys in URLs', () => {
  it.each([
    ['/graphql', null],
    ['/graphql?query=%7B%20projections%20%7B%20name%20%7D%20%7D', null],
    ['/audit/export?category=machine&types=A,B', null],
    ['/graphql?key=x', 'key'],
    ['/graphql?a=1&API_KEY=x', 'API_KEY'],
    ['/graphql?api-key=x', 'api-key'],
    ['/graphql?access_token=x', 'access_token'],
    ['/graphql?Authorization=Bearer%20x', 'Authorization'],
    ['/graphql?to%6Ben=x', 'token'],
    ['/graphql?token', 'token'],
    [`/audit/export?actor=${KEY}`, 'actor'],
    [`/audit/export?actor=OPERATOR%3A${encodeURIComponent(KEY)}`, 'actor'],
    ['/graphql?bad=%E0%A4%A', null],
    // A key glued to other text, in the path, or as a parameter's name is a key all the same.
    [`/graphql?k=prefix${KEY}`, 'k'],
    [`/graphql/${KEY}`, 'path'],
    [`/graphql?${KEY}=1`, '[redacted]'],
  ])('%s: the parameter carrying a key is %s', (url, parameter) => {
    expect(keyParameterIn(url)).toBe(parameter);
  });

  it('redacts the value of every key parameter and anything shaped like a key, and leaves the rest as it was', () => {
    expect(redactUrl('/graphql?key=secret&stream=machine-1')).toBe('/graphql?key=[redacted]&stream=machine-1');
    expect(redactUrl(`/x/${KEY}/y?q=${KEY}&token`)).toBe('/x/[redacted]/y?q=[redacted]&token=[redacted]');
    expect(redactUrl('/healthz')).toBe('/healthz');
    expect(redactUrl('/graphql?query=%7B%7D&variables=%7B%7D')).toBe('/graphql?query=%7B%7D&variables=%7B%7D');
  });

  it('a correlation id shaped like a key is not taken (it would be logged, echoed and kept in the history)', () => {
    const req = (id: string) => ({ headers: { 'x-correlation-id': id } });
    expect(correlationIdOf(req('deploy-42'))).toBe('deploy-42');
    expect(correlationIdOf(req(KEY))).not.toContain('dd_');
    expect(correlationIdOf(req(`x${KEY}`))).toMatch(/^[0-9a-f-]{36}$/);
  });
});
